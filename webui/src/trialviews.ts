// One trial's full record (parameters, every metric, output files), the customized-trial form and
// the side-by-side comparison of selected trials.
import { getJson, getText, postJson, query, reportError } from './api';
import { tip, tooltip } from './chartbits';
import { draw } from './lazy';
import { h, replace } from './dom';
import { formatDuration, formatNumber, formatTime, formatValue, metricOf, numberOf, pretty } from './format';
import { live } from './live';
import type { Json, TrialDetail, TrialRow } from './types';
import { badge, emptyNote, field, modal, pre, tabs, toast } from './ui';

function metricKeysOf(values: Json[]): string[] {
  const keys = new Set<string>();
  for (const v of values) {
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) Object.keys(v).forEach((k) => keys.add(k));
    else if (v !== undefined) keys.add('default');
  }
  return [...keys];
}

/** The expandable panel under a table row. */
export function trialPanel(trialId: string): { el: HTMLElement; refresh: () => void } {
  const el = h('div', { class: 'trial-panel', 'data-testid': `trial-panel-${trialId}` });
  let tab = 'params';
  let detail: TrialDetail | null = null;
  let fileName = '';
  const body = h('div');
  const bar = tabs([{ id: 'params', label: 'Parameters' }, { id: 'metrics', label: 'Metrics' },
    { id: 'logs', label: 'Output & logs' }, { id: 'info', label: 'Info' }], tab, (id) => { tab = id; show(); }, 'trial-tabs');
  el.append(bar, body);

  async function load(): Promise<void> {
    try {
      detail = await getJson<TrialDetail>(`trials/${encodeURIComponent(trialId)}`);
      show();
    } catch (error) { reportError(error); }
  }

  function show(): void {
    if (!detail) { replace(body, emptyNote('Loading…')); return; }
    const d = detail;
    if (tab === 'params') {
      replace(body, pre(pretty(d.parameters), 'trial-params'));
    } else if (tab === 'metrics') {
      const values = d.intermediate.map((m) => m.value);
      const keys = metricKeysOf(d.finalMetric ? [d.finalMetric.value, ...values] : values);
      const chartEl = h('div', { class: 'chart small', 'data-testid': 'trial-metric-chart' });
      replace(body,
        h('div', { class: 'field' }, h('div', { class: 'label' }, 'Final result'),
          h('div', { class: 'value', 'data-testid': 'trial-final' }, d.finalMetric ? formatValue(d.finalMetric.value) : '—')),
        values.length ? chartEl : null,
        h('div', { class: 'table-wrap scroll' }, h('table', { class: 'table', 'data-testid': 'trial-metrics' },
          h('thead', null, h('tr', null, h('th', null, 'Step'), h('th', null, 'Time'), keys.map((k) => h('th', null, k)))),
          h('tbody', null,
            d.intermediate.map((m) => h('tr', null, h('td', null, String(m.sequence)), h('td', null, formatTime(m.timestamp)),
              keys.map((k) => h('td', null, formatValue(metricOf(m.value, k)))))),
            d.finalMetric ? h('tr', { class: 'final' }, h('td', null, 'final'), h('td', null, formatTime(d.finalMetric.timestamp)),
              keys.map((k) => h('td', null, formatValue(metricOf(d.finalMetric!.value, k))))) : null))));
      if (values.length) {
        requestAnimationFrame(() => draw(chartEl, {
          grid: { left: 60, right: 20, top: 30, bottom: 30 },
          legend: { top: 0, type: 'scroll' },
          tooltip: { trigger: 'axis', confine: true },
          xAxis: { type: 'value', name: 'step' },
          yAxis: { type: 'value', scale: true },
          series: keys.map((k) => ({
            type: 'line', name: k, showSymbol: false,
            data: d.intermediate.map((m) => [m.sequence, numberOf(metricOf(m.value, k))]).filter((p) => p[1] !== null),
          })),
        }));
      }
    } else if (tab === 'logs') {
      const names = d.files;
      if (!fileName || !names.includes(fileName)) fileName = names.find((n) => n === 'stdout' || n.endsWith('trial.log')) ?? names[0] ?? '';
      const out = h('div');
      replace(body, names.length ? h('div', { class: 'controls' }, names.map((n) => h('button', {
        class: n === fileName ? 'chip active' : 'chip', 'data-file': n,
        onclick: () => { fileName = n; show(); },
      }, n))) : emptyNote('This trial has no output files yet.'), out, d.logPath ? h('div', { class: 'hint' }, `Log path: ${d.logPath}`) : null);
      if (fileName) {
        getText(`trials/${encodeURIComponent(trialId)}/file` + query({ name: fileName, tail: 65536 }))
          .then((f) => replace(out, f.truncated ? h('div', { class: 'hint' }, `Last 64 KiB of ${f.size} bytes`) : null,
            pre(f.text || '(empty)', 'trial-file-text')))
          .catch(reportError);
      }
    } else {
      replace(body, h('div', { class: 'grid' },
        field('Trial ID', d.trialId), field('Trial No.', String(d.sequenceId)), field('Status', badge(d.status)),
        field('Start', formatTime(d.startTime)), field('End', formatTime(d.endTime)), field('Duration', formatDuration(d.duration)),
        field('Host', d.host ?? 'local'), field('GPUs', d.gpus.length ? d.gpus.join(', ') : '—'),
        field('Exit code', d.exitCode === null ? '—' : String(d.exitCode)),
        field('Source', d.customized ? 'customized' : 'tuner'),
        field('Message', d.message ?? '—', 'trial-message'), field('Log path', d.logPath ?? '—')));
    }
  }

  show();
  void load();
  return { el, refresh: () => void load() };
}

function parseLike(original: Json, raw: string): Json {
  if (typeof original === 'string') return raw;
  try { return JSON.parse(raw) as Json; } catch { return raw; }
}

/** NNI's "customized trial": a copy of a trial's parameters, edited, queued as a new trial. */
export function customizeDialog(row: TrialRow): void {
  const inputs: [string, Json, HTMLInputElement][] = Object.entries(row.parameters).map(([k, v]) => [k, v,
    h('input', { type: 'text', value: typeof v === 'string' ? v : JSON.stringify(v), 'data-param': k, 'aria-label': k })]);
  modal(`Customized trial from #${row.sequenceId} ${row.trialId}`,
    h('div', { class: 'form' }, inputs.map(([k, , input]) => h('label', { class: 'form-row' }, h('span', null, k), input))),
    (close) => [
      h('button', { onclick: close }, 'Cancel'),
      h('button', { class: 'primary', 'data-testid': 'customize-submit', onclick: async () => {
        const parameters: Record<string, Json> = {};
        for (const [k, v, input] of inputs) parameters[k] = parseLike(v, input.value);
        try {
          const result = await postJson<{ trialId: string }>('trials', { parameters });
          toast(`Customized trial ${result.trialId} submitted`);
          close();
          live.refresh();
        } catch (error) { reportError(error); }
      } }, 'Submit'),
    ], 'customize-dialog');
}

/** Selected trials side by side: status, every metric key, every parameter, and their curves. */
export function compareDialog(rows: TrialRow[], metricKey: string): void {
  const metricKeys = metricKeysOf(rows.map((r) => r.final).filter((v) => v !== null));
  const params = [...new Set(rows.flatMap((r) => Object.keys(r.parameters)))];
  const chartEl = h('div', { class: 'chart small', 'data-testid': 'compare-chart' });
  const line = (label: string, cells: string[]) => h('tr', null, h('th', null, label), cells.map((c) => h('td', null, c)));
  modal(`Compare ${rows.length} trials`, h('div', null,
    h('div', { class: 'table-wrap scroll' }, h('table', { class: 'table', 'data-testid': 'compare-table' },
      h('tbody', null,
        line('Trial', rows.map((r) => `#${r.sequenceId} ${r.trialId}`)),
        line('Status', rows.map((r) => r.status)),
        line('Duration', rows.map((r) => formatDuration(r.duration))),
        metricKeys.map((k) => line(`metric: ${k}`, rows.map((r) => formatValue(metricOf(r.final, k))))),
        params.map((p) => line(p, rows.map((r) => formatValue(r.parameters[p]))))))),
    h('h4', null, `Intermediate results (${metricKey})`), chartEl), () => null, 'compare-dialog', true);
  getJson<{ series: { trialId: string; sequenceId: number; points: [number, number][] }[] }>('charts/intermediate' +
    query({ key: metricKey, ids: rows.map((r) => r.trialId).join(','), limit: rows.length, points: 500 }))
    .then((data) => {
      if (!data.series.length) { replace(chartEl, emptyNote('No intermediate results.')); chartEl.dataset.state = 'ready'; return; }
      draw(chartEl, {
        grid: { left: 60, right: 20, top: 30, bottom: 30 },
        legend: { top: 0, type: 'scroll' },
        tooltip: tooltip((p) => {
          const item = p as { seriesName: string; value: [number, number] };
          return tip([['Trial', item.seriesName], ['Step', String(item.value[0])], [metricKey, formatNumber(item.value[1])]]);
        }),
        xAxis: { type: 'value', name: 'step' },
        yAxis: { type: 'value', scale: true },
        series: data.series.map((s) => ({ type: 'line', name: `#${s.sequenceId} ${s.trialId}`, showSymbol: false, data: s.points })),
      });
    }).catch(reportError);
}
