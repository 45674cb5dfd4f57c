"""User profiles: behaviour features, time-decayed text vectors, standardisation and PCA."""

from shopseq.profiles.build import ProfileTable, build_profiles, price_sensitivity_spearman
from shopseq.profiles.features import end_of_data

__all__ = ["ProfileTable", "build_profiles", "end_of_data", "price_sensitivity_spearman"]
