"""The report page: one Jinja2 template (autoescaped) with a small inline stylesheet."""

from __future__ import annotations

CSS = """
:root { --ink:#212529; --muted:#868e96; --line:#dee2e6; --bg:#f8f9fa; --accent:#3b5bdb;
        --good:#2b8a3e; --bad:#c92a2a; --goodbg:#ebfbee; --badbg:#fff5f5; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 -apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,"Liberation Sans","DejaVu Sans",sans-serif; color:var(--ink); background:var(--bg); }
header { background:#1c2541; color:#fff; padding:20px 32px; }
header h1 { margin:0 0 4px; font-size:22px; }
header .sub { color:#c5cae9; font-size:13px; }
header code { background:rgba(255,255,255,.14); color:#fff; }
nav { padding:8px 32px; background:#fff; border-bottom:1px solid var(--line); position:sticky; top:0; z-index:1; }
nav a { margin-right:14px; color:var(--accent); text-decoration:none; font-size:13px; }
main { max-width:1180px; margin:0 auto; padding:16px 32px 48px; }
section { background:#fff; border:1px solid var(--line); border-radius:8px; padding:16px 20px; margin:16px 0; }
section h2 { margin:0 0 10px; font-size:17px; }
h3 { font-size:14px; margin:14px 0 6px; color:#495057; }
table { border-collapse:collapse; margin:6px 0 10px; font-size:13px; }
th, td { padding:4px 10px; border-bottom:1px solid var(--line); text-align:right; vertical-align:top; }
th { background:var(--bg); font-weight:600; }
th:first-child, td:first-child { text-align:left; }
td.text { text-align:left; max-width:640px; }
tr.cand td { font-weight:600; background:#edf2ff; }
.delta { display:block; font-size:11px; font-weight:400; }
.up { color:var(--good); } .down { color:var(--bad); }
.badge { display:inline-block; padding:2px 10px; border-radius:12px; font-weight:600; font-size:13px; }
.pass { background:var(--goodbg); color:var(--good); border:1px solid var(--good); }
.fail { background:var(--badbg); color:var(--bad); border:1px solid var(--bad); }
.notrun { color:var(--muted); font-style:italic; }
.cards { display:flex; flex-wrap:wrap; gap:10px; margin:6px 0 10px; }
.card { border:1px solid var(--line); border-radius:6px; padding:8px 14px; min-width:120px; }
.card .v { font-size:20px; font-weight:600; } .card .k { color:var(--muted); font-size:12px; }
.plots { display:flex; flex-wrap:wrap; gap:16px; align-items:flex-start; }
img.plot { max-width:100%; height:auto; border:1px solid var(--line); border-radius:4px; }
ul.reasons li { margin:2px 0; } code { background:var(--bg); padding:1px 4px; border-radius:3px; }
.muted { color:var(--muted); font-size:12px; }
tr.changed td { background:#fff9db; }
details { margin:8px 0; } details > summary { cursor:pointer; color:var(--accent); font-size:13px; }
"""

TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>shopseq run report — {{ data_version }}</title>
<style>{{ css|safe }}</style></head>
<body>
<header>
  <h1>shopseq run report
    {% if gate %}<span class="badge {{ 'pass' if gate.passed else 'fail' }}">gate {{ 'passed' if gate.passed else 'failed' }}</span>{% endif %}
  </h1>
  <div class="sub">data version <code>{{ data_version }}</code> · commit <code>{{ git_commit }}</code> · generated {{ generated }}</div>
</header>
<nav>{% for id, title in sections %}<a href="#{{ id }}">{{ title }}</a>{% endfor %}</nav>
<main>

{% macro not_run(what) %}<p class="notrun">{{ what }} — not run (no output found).</p>{% endmacro %}
{% macro cards(rows) %}<div class="cards">{% for k, v in rows %}<div class="card"><div class="v">{{ v|fmt }}</div><div class="k">{{ k }}</div></div>{% endfor %}</div>{% endmacro %}
{% macro folded(summary, body) %}<details><summary>{{ summary }}</summary>{{ body }}</details>{% endmacro %}
{% macro kv(rows) %}<table>{% for k, v in rows %}<tr><td>{{ k }}</td><td{% if v is string and v|length > 24 %} class="text"{% endif %}>{{ v|fmt }}</td></tr>{% endfor %}</table>{% endmacro %}
{% macro tables_html(ts) %}{% for t in ts %}{{ table(t) }}{% endfor %}{% endmacro %}
{% macro table(t) %}<h3>{{ t.title }}</h3><table><tr>{% for c in t.columns %}<th>{{ c }}</th>{% endfor %}</tr>
{% for row in t.rows %}<tr>{% for c in t.columns %}<td{% if row[c] is string %} class="text"{% endif %}>{{ row[c]|fmt }}</td>{% endfor %}</tr>{% endfor %}</table>{% endmacro %}

<section id="data"><h2>Data version and counts</h2>
{% if data.cards %}<div class="cards">{% for k, v in data.cards %}<div class="card"><div class="v">{{ v|fmt }}</div><div class="k">{{ k }}</div></div>{% endfor %}</div>{% endif %}
{% if data.tables %}<table><tr><th>table</th><th>rows in</th><th>accepted</th><th>quarantined</th><th>quarantine reasons</th></tr>
{% for t in data.tables %}<tr><td>{{ t.name }}</td><td>{{ t.rows_in|fmt }}</td><td>{{ t.rows_accepted|fmt }}</td><td>{{ t.rows_quarantined|fmt }}</td>
<td class="text">{% for reason, n in t.reasons %}{{ reason }}: {{ n|fmt }}{% if not loop.last %}<br>{% endif %}{% else %}<span class="muted">none</span>{% endfor %}</td></tr>{% endfor %}</table>
{% else %}{{ not_run("validate") }}{% endif %}
{% if data.sequences %}{{ folded("Sequences split: " ~ data.sequences|length ~ " values", kv(data.sequences)) }}{% else %}{{ not_run("sequences") }}{% endif %}
{% if data.profiles %}{{ folded("User profiles: " ~ data.profiles|length ~ " values", kv(data.profiles)) }}{% else %}{{ not_run("profiles") }}{% endif %}
</section>

<section id="validation"><h2>Validation</h2>
{% if validation %}<p><span class="badge {{ 'pass' if validation.passed else 'fail' }}">{{ 'passed' if validation.passed else 'failed' }}</span>
{% if validation.docs %} · <a href="{{ validation.docs }}">Great Expectations Data Docs</a>{% else %} · <span class="muted">no Data Docs found</span>{% endif %}</p>
{% if validation.errors %}<ul class="reasons">{% for e in validation.errors %}<li>{{ e }}</li>{% endfor %}</ul>{% else %}<p class="muted">no table-level errors</p>{% endif %}
{% else %}{{ not_run("validate") }}{% endif %}
</section>

<section id="metrics"><h2>Test metrics: candidate vs champion vs baselines</h2>
{% if metrics %}<p class="muted">{{ metrics.n_targets|fmt }} test targets, full ranking. Under each other model: the candidate's difference from it (green: candidate better).
{% if metrics.champion_version %}Champion: version {{ metrics.champion_version }}.{% else %}No champion yet.{% endif %}</p>
<table><tr><th>model</th>{% for m in metrics.columns %}<th>{{ m }}</th>{% endfor %}</tr>
{% for row in metrics.rows %}<tr class="{{ 'cand' if row.name == 'candidate' else '' }}"><td>{{ row.name }}</td>
{% if row.scores is none %}<td colspan="{{ metrics.columns|length }}" class="text notrun">not evaluated (no champion)</td>
{% else %}{% for m in metrics.columns %}<td>{{ row.scores.get(m)|fmt }}{% if row.deltas and row.deltas.get(m) %}{% set d = row.deltas[m] %}<span class="delta {{ 'up' if d.abs >= 0 else 'down' }}">{{ '%+.4f'|format(d.abs) }}{% if d.rel is not none %} ({{ '%+.0f'|format(100 * d.rel) }}%){% endif %}</span>{% endif %}</td>{% endfor %}{% endif %}</tr>{% endfor %}</table>
<div class="plots"><img class="plot" alt="test {{ metrics.gate_metric }} per model" src="{{ metrics.plot }}"></div>
{% else %}{{ not_run("evaluate") }}{% endif %}
</section>

<section id="segments"><h2>Per-segment metrics</h2>
{% if segments %}<p class="muted">New users have no training sequence; cold items occur fewer than {{ segments.cold_max_count }} times in training.</p>
<table><tr><th>segment</th><th>targets</th>{% for model in segments.models %}<th>{{ model }} {{ segments.metric }}</th>{% endfor %}</tr>
{% for row in segments.rows %}<tr><td>{{ row.segment }}</td><td>{{ row.n_targets|fmt }}</td>{% for model in segments.models %}<td>{{ row[model]|fmt }}</td>{% endfor %}</tr>{% endfor %}</table>
<div class="plots"><img class="plot" alt="test {{ segments.metric }} per segment" src="{{ segments.plot }}"></div>
{% else %}{{ not_run("per-segment evaluation") }}{% endif %}
</section>

<section id="training"><h2>Training curves</h2>
{% if training %}{{ kv(training.headline) }}
{% if training.plot %}<div class="plots"><img class="plot" alt="training curves" src="{{ training.plot }}"></div>{% else %}<p class="notrun">no training history</p>{% endif %}
{{ folded("All " ~ training.facts|length ~ " values of reports/train/metrics.json", kv(training.facts)) }}
{% else %}{{ not_run("train") }}{% endif %}
</section>

<section id="tuning"><h2>Optuna trials and parameter importances</h2>
{% if tuning %}<div class="plots"><img class="plot" alt="Optuna trial history" src="{{ tuning.plot }}">
{% if tuning.importance_plot %}<img class="plot" alt="parameter importances" src="{{ tuning.importance_plot }}">{% endif %}</div>
{% if not tuning.importance_plot %}<p class="notrun">Parameter importances not computed: {{ tuning.importance_note }}</p>
{% else %}<table><tr><th>parameter</th><th>importance</th></tr>{% for k, v in tuning.importances %}<tr><td>{{ k }}</td><td>{{ v|fmt }}</td></tr>{% endfor %}</table>{% endif %}
{{ table(tuning.table) }}
{% else %}{{ not_run("Optuna tuning") }}{% endif %}
</section>

<section id="gate"><h2>Gate decision</h2>
{% if gate %}<p><span class="badge {{ 'pass' if gate.passed else 'fail' }}">{{ 'PASSED' if gate.passed else 'FAILED' }}</span> on <code>{{ gate.metric }}</code></p>
<ul class="reasons">{% for r in gate.reasons %}<li class="{{ 'up' if r.startswith('pass') else 'down' }}">{{ r }}</li>{% endfor %}</ul>
{% else %}{{ not_run("gate") }}{% endif %}
</section>

<section id="downstream"><h2>Audiences and demand forecast</h2>
{% for part in downstream %}<h3>{{ part.title }}{% if part.page %} <a class="muted" href="{{ part.page }}">(its own page)</a>{% endif %}</h3>
{% if part.found %}{{ cards(part.cards) }}
{% if part.plots %}<div class="plots">{% for alt, src in part.plots %}<img class="plot" alt="{{ alt }}" src="{{ src }}">{% endfor %}</div>{% endif %}
{{ folded("All " ~ part.scalars|length ~ " values and " ~ part.tables|length ~ " tables", kv(part.scalars) ~ tables_html(part.tables)) }}
{% else %}<p class="notrun">{{ part.title }} — not run yet. They come after approval: the shopseq_audiences and shopseq_forecast DAGs run once a champion is promoted, and <code>shopseq report</code> (or <code>make demo</code>, which does it for you) rebuilds this page with them.</p>{% endif %}
{% endfor %}
</section>

<section id="lineage"><h2>Lineage</h2>
{{ kv(lineage.facts) }}
<h3>Params: candidate vs champion</h3>
{% if lineage.diff %}{% set changed = lineage.diff|selectattr("changed")|list %}{% set same = lineage.diff|rejectattr("changed")|list %}
<p class="muted">{{ lineage.n_changed }} of {{ lineage.diff|length }} params differ.</p>
{% macro diff_rows(rows) %}<table><tr><th>param</th><th>candidate</th><th>champion</th></tr>
{% for row in rows %}<tr class="{{ 'changed' if row.changed else '' }}"><td>{{ row.name }}</td><td class="text">{{ row.candidate|fmt }}</td><td class="text">{{ row.champion|fmt }}</td></tr>{% endfor %}</table>{% endmacro %}
{% if changed %}{{ diff_rows(changed) }}{% endif %}
{% if same %}{{ folded("The " ~ same|length ~ " params that are the same", diff_rows(same)) }}{% endif %}
{% else %}<p class="notrun">{{ lineage.diff_note }}</p>{% endif %}
</section>

{% if notes %}<section id="notes"><h2>Notes</h2><ul>{% for n in notes %}<li>{{ n }}</li>{% endfor %}</ul></section>{% endif %}
</main></body></html>
"""
