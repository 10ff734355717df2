// Trials detail: the chart tabs (metric, parallel coordinates, durations, intermediate results,
// importance, slice, contour) over a server-paginated trial table.
import { SingleFlight, getJson, postJson, query, reportError } from '../api';
import { PALETTE, tip, tooltip, type Option } from '../chartbits';
import { dispose, draw as drawInto } from '../lazy';
import { h, replace, select } from '../dom';
import { STATUS_CLASS, formatDuration, formatNumber, formatTime, formatValue, metricOf } from '../format';
import { live, type ChangeEvent } from '../live';
import type { Page } from '../main';
import { hasObjectives } from '../pareto';
import type { Json, ParamColumn, ParamTable, Summary, TrialPage, TrialRow } from '../types';
import { compareDialog, customizeDialog, trialPanel } from '../trialviews';
import { badge, card, emptyNote, modal, tabs, throttle, toast } from '../ui';

const CHART_TABS = [
  { id: 'metric', label: 'Default metric' }, { id: 'parallel', label: 'Hyper-parameter' },
  { id: 'duration', label: 'Duration' }, { id: 'intermediate', label: 'Intermediate result' },
  { id: 'importance', label: 'Importance' }, { id: 'slice', label: 'Slice' }, { id: 'contour', label: 'Contour' },
];

interface Column { id: string; label: string; sort: string | null; cell: (r: TrialRow) => Node | string; }

function byIndex(params: unknown): number { return (params as { dataIndex: number }).dataIndex; }

function axisFor(column: ParamColumn): Option {
  if (column.type === 'categorical') return { type: 'category', data: column.categories };
  return { type: column.log ? 'log' : 'value', scale: true };
}

export function trialsPage(): Page {
  let root: HTMLElement;
  const unsubs: (() => void)[] = [];
  let summary: Summary | null = null;
  let metricKey = 'default';
  let mode: 'maximize' | 'minimize' = 'maximize';
  let chartTab = 'metric';
  let optimizationCurve = false;
  let topPercent = 100;
  let interSelect = 'latest';
  let interLimit = 50;
  let sliceParam = '';
  let contourX = '';
  let contourY = '';
  // Table state.
  let offset = 0;
  let limit = 20;
  let sort = 'sequenceId';
  let order: 'asc' | 'desc' = 'asc';
  let statusFilter = '';
  let search = '';
  let paretoOnly = false;
  let page: TrialPage | null = null;
  const selected = new Map<string, TrialRow>();
  let expanded: string | null = null;
  let expandedPanel: ReturnType<typeof trialPanel> | null = null;
  let hidden = new Set<string>();
  let columnsSeenFor = '';

  const metricBar = h('div', { class: 'controls' });
  const chartControls = h('div', { class: 'controls' });
  const chartEl = h('div', { class: 'chart', 'data-testid': 'trials-chart' });
  const chartNote = h('div', { class: 'hint', 'data-testid': 'chart-note' });
  const tableTools = h('div', { class: 'controls' });
  const tableBox = h('div', { class: 'table-wrap' });
  const pager = h('div', { class: 'pager' });

  const loadTable = new SingleFlight(async () => {
    page = await getJson<TrialPage>('trials' + query({ offset, limit, sort, order, status: statusFilter, q: search, pareto: paretoOnly ? 1 : null }));
    renderTable();
    firstChart();
  });
  // The first chart waits for the first table page: the table is what a user reads first.
  let chartStarted = false;
  const firstChart = () => {
    if (chartStarted || !summary || !page) return;
    chartStarted = true;
    requestAnimationFrame(() => requestChart());
  };
  const loadChart = new SingleFlight(async () => { await drawChart(); });
  // Each user change of what the chart shows starts a new generation; only its paint is 'ready'.
  let generation = 0;
  const requestChart = () => {
    generation += 1;
    chartEl.dataset.state = 'loading';
    loadChart.request();
  };
  const chartLater = throttle(() => loadChart.request(), 2500);
  const tableLater = throttle(() => loadTable.request(), 700);

  function columns(): Column[] {
    const s = summary;
    const cols: Column[] = [
      { id: 'sequenceId', label: 'Trial No.', sort: 'sequenceId', cell: (r) => String(r.sequenceId) },
      { id: 'trialId', label: 'ID', sort: 'trialId', cell: (r) => h('span', { class: 'mono' }, r.trialId) },
      { id: 'status', label: 'Status', sort: 'status', cell: (r) => badge(r.status) },
      { id: 'startTime', label: 'Start', sort: 'startTime', cell: (r) => formatTime(r.startTime) },
      { id: 'endTime', label: 'End', sort: 'endTime', cell: (r) => formatTime(r.endTime) },
      { id: 'duration', label: 'Duration', sort: 'duration', cell: (r) => formatDuration(r.duration) },
    ];
    for (const key of s?.metricKeys ?? ['default']) {
      cols.push({ id: `metric:${key}`, label: key === 'default' ? 'Default metric' : `metric: ${key}`, sort: `metric:${key}`,
        cell: (r) => (r.hasFinal ? formatValue(metricOf(r.final, key)) : (r.latest !== null ? `${formatValue(metricOf(r.latest, key))} (latest)` : '—')) });
    }
    if (s && hasObjectives(s.config)) {
      const yesNo = (v: boolean | null | undefined) => (v === true ? 'yes' : v === false ? 'no' : '—');
      cols.push({ id: 'feasible', label: 'Feasible', sort: 'feasible', cell: (r) => yesNo(r.feasible) },
        { id: 'pareto', label: 'Pareto', sort: 'pareto', cell: (r) => (r.pareto ? h('span', { class: 'badge st-ok' }, 'front') : '') });
    }
    cols.push({ id: 'intermediateCount', label: 'Intermediate', sort: 'intermediateCount', cell: (r) => String(r.intermediateCount) });
    for (const p of s?.paramKeys ?? []) {
      cols.push({ id: `param:${p}`, label: p, sort: `param:${p}`, cell: (r) => formatValue(flatParam(r.parameters, p)) });
    }
    return cols;
  }

  function flatParam(params: Record<string, Json>, path: string): Json | undefined {
    if (path in params) {
      const v = params[path];
      if (v !== null && typeof v === 'object' && !Array.isArray(v) && '_name' in v) return v._name;
      return v;
    }
    let value: Json | undefined = params;
    for (const part of path.split('/')) {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
      value = value[part];
    }
    return value;
  }

  function defaultHidden(s: Summary): void {
    const key = JSON.stringify([s.metricKeys, s.paramKeys]);
    if (key === columnsSeenFor) return;
    const first = columnsSeenFor === '';
    columnsSeenFor = key;
    if (!first) return;
    hidden = new Set(['endTime']);
    s.metricKeys.slice(3).forEach((k) => hidden.add(`metric:${k}`));
    s.paramKeys.slice(6).forEach((p) => hidden.add(`param:${p}`));
  }

  function renderMetricBar(s: Summary): void {
    if (!s.metricKeys.includes(metricKey)) metricKey = 'default';
    replace(metricBar,
      h('label', null, 'Metric ', select(s.metricKeys.map((k) => [k, k]), metricKey, (v) => {
        metricKey = v; requestChart();
      }, { 'data-testid': 'metric-key' })),
      h('div', { class: 'toggle', 'data-testid': 'mode-toggle' }, (['maximize', 'minimize'] as const).map((m) => h('button', {
        class: m === mode ? 'active' : '', onclick: () => { mode = m; renderMetricBar(s); requestChart(); },
      }, m))));
  }

  function renderChartControls(): void {
    const s = summary;
    const params = s?.paramKeys ?? [];
    if (!params.includes(sliceParam)) sliceParam = params[0] ?? '';
    if (!params.includes(contourX)) contourX = params[0] ?? '';
    if (!params.includes(contourY) || contourY === contourX) contourY = params.find((p) => p !== contourX) ?? '';
    const paramSelect = (value: string, onChange: (v: string) => void, testid: string) =>
      select(params.map((p) => [p, p]), value, (v) => { onChange(v); requestChart(); }, { 'data-testid': testid });
    let controls: (Node | string)[] = [];
    if (chartTab === 'metric') {
      const box = h('input', { type: 'checkbox', checked: optimizationCurve, 'data-testid': 'optimization-curve' });
      box.addEventListener('change', () => { optimizationCurve = box.checked; requestChart(); });
      controls = [h('label', null, box, ' Optimization curve')];
    } else if (chartTab === 'parallel') {
      controls = [h('label', null, 'Top ', select([['100', '100%'], ['80', '80%'], ['50', '50%'], ['20', '20%'], ['5', '5%']],
        String(topPercent), (v) => { topPercent = Number(v); requestChart(); }, { 'data-testid': 'top-percent' }), ' of trials')];
    } else if (chartTab === 'intermediate') {
      controls = [
        h('label', null, 'Show ', select([['latest', 'latest'], ['best', 'best'], ['worst', 'worst']], interSelect,
          (v) => { interSelect = v; requestChart(); }, { 'data-testid': 'inter-select' })),
        h('label', null, ' ', select([['20', '20'], ['50', '50'], ['100', '100'], ['200', '200'], ['500', '500']], String(interLimit),
          (v) => { interLimit = Number(v); requestChart(); }, { 'data-testid': 'inter-limit' }), ' trials'),
      ];
    } else if (chartTab === 'slice') {
      controls = [h('label', null, 'Parameter ', paramSelect(sliceParam, (v) => { sliceParam = v; }, 'slice-param'))];
    } else if (chartTab === 'contour') {
      controls = [h('label', null, 'X ', paramSelect(contourX, (v) => { contourX = v; }, 'contour-x')),
        h('label', null, ' Y ', paramSelect(contourY, (v) => { contourY = v; }, 'contour-y'))];
    }
    replace(chartControls, ...controls);
  }

  function nothingFor(message: string, gen: number): void {
    dispose(chartEl);
    replace(chartEl, emptyNote(message));
    chartEl.dataset.state = gen === generation ? 'ready' : 'stale';
  }

  async function drawChart(): Promise<void> {
    const tab = chartTab;
    const gen = generation;
    const current = () => gen === generation;
    const draw = (el: HTMLElement, option: Option) => drawInto(el, option, current);
    const nothing = (message: string) => nothingFor(message, gen);
    chartNote.textContent = '';
    if (tab === 'metric') {
      const data = await getJson<{ points: [number, number, string][]; nonNumeric: number; total: number }>('charts/metric' + query({ key: metricKey }));
      if (tab !== chartTab) return;
      if (!data.points.length) { nothing('No trial has a numeric final result for this metric yet.'); return; }
      const series: Option[] = [{ type: 'scatter', name: metricKey, data: data.points.map((p) => [p[0], p[1]]),
        symbolSize: data.points.length > 2000 ? 3 : 7, large: data.points.length > 2000, largeThreshold: 2000 }];
      if (optimizationCurve) {
        const sorted = [...data.points].sort((a, b) => a[0] - b[0]);
        let best: number | null = null;
        const curve = sorted.map((p) => {
          if (best === null || (mode === 'maximize' ? p[1] > best : p[1] < best)) best = p[1];
          return [p[0], best];
        });
        series.push({ type: 'line', name: 'best so far', step: 'end', showSymbol: false, data: curve, lineStyle: { width: 2 } });
      }
      draw(chartEl, {
        grid: { left: 70, right: 30, top: 30, bottom: 60 },
        legend: { top: 0 },
        tooltip: tooltip((p) => {
          const item = p as { seriesIndex: number; dataIndex: number; value: [number, number] };
          if (item.seriesIndex === 0) {
            const point = data.points[item.dataIndex];
            return tip([['Trial', `#${point[0]} ${point[2]}`], [metricKey, formatNumber(point[1])]]);
          }
          return tip([['Best after trial', `#${item.value[0]}`], [metricKey, formatNumber(item.value[1])]]);
        }),
        dataZoom: [{ type: 'inside' }, { type: 'slider', height: 18, bottom: 8 }],
        xAxis: { type: 'value', name: 'Trial No.', minInterval: 1 },
        yAxis: { type: 'value', scale: true, name: metricKey },
        series,
      });
      if (data.nonNumeric) chartNote.textContent = `${data.nonNumeric} trial(s) reported a non-numeric value (NaN, Infinity or text) and are not drawn.`;
    } else if (tab === 'parallel') {
      const data = await getJson<ParamTable>('charts/params' + query({ key: metricKey, top: topPercent / 100, mode, limit: 2000 }));
      if (tab !== chartTab) return;
      if (!data.shown || !data.columns.length) { nothing('No trial with parameters and a numeric result yet.'); return; }
      const dims = [...data.columns.map((c, i) => ({ dim: i, name: c.name, ...axisFor(c) })),
        { dim: data.columns.length, name: metricKey, type: 'value', scale: true }];
      const rows = data.metric.map((m, i) => [...data.columns.map((c) => c.values[i]), m]);
      const lo = Math.min(...data.metric);
      const hi = Math.max(...data.metric);
      draw(chartEl, {
        parallel: { left: 60, right: 90, top: 40, bottom: 30 },
        parallelAxis: dims,
        visualMap: { type: 'continuous', min: lo, max: hi === lo ? lo + 1 : hi, dimension: data.columns.length, calculable: true,
          right: 0, top: 'middle', itemHeight: 160, inRange: { color: ['#d0dbf5', '#3f6fd8', '#1b2f6b'] } },
        series: [{ type: 'parallel', data: rows, lineStyle: { width: 1, opacity: rows.length > 500 ? 0.35 : 0.7 },
          progressive: 1000, smooth: false }],
      });
      chartNote.textContent = `${data.shown} of ${data.total} trials with a numeric result (best ${topPercent}%, at most 2000 drawn).`;
    } else if (tab === 'duration') {
      const data = await getJson<{ sequenceIds: number[]; durations: number[]; trialIds: string[]; statuses: number[]; statusNames: string[] }>('charts/duration');
      if (tab !== chartTab) return;
      const n = data.sequenceIds.length;
      if (!n) { nothing('No trial has started yet.'); return; }
      // Past a thousand trials bars get thinner than a pixel and slow to lay out: dots say the same,
      // read from one typed array (no array per point for ECharts to parse).
      let series: Option;
      if (n > 1000) {
        const xy = new Float64Array(2 * n);
        for (let i = 0; i < n; i += 1) { xy[2 * i] = data.sequenceIds[i]; xy[2 * i + 1] = data.durations[i]; }
        series = { type: 'scatter', data: xy, symbolSize: 3, large: true, largeThreshold: 1000 };
      } else {
        series = { type: 'bar', data: data.sequenceIds.map((s, i) => [s, data.durations[i]]), barMaxWidth: 16 };
      }
      draw(chartEl, {
        grid: { left: 70, right: 30, top: 30, bottom: 60 },
        tooltip: tooltip((p) => {
          const i = byIndex(p);
          return tip([['Trial', `#${data.sequenceIds[i]} ${data.trialIds[i]}`], ['Status', data.statusNames[data.statuses[i]]],
            ['Duration', formatDuration(data.durations[i])]]);
        }),
        dataZoom: [{ type: 'inside' }, { type: 'slider', height: 18, bottom: 8 }],
        xAxis: { type: 'value', name: 'Trial No.', minInterval: 1 },
        yAxis: { type: 'value', name: 'seconds' },
        series: [series],
      });
    } else if (tab === 'intermediate') {
      const data = await getJson<{ series: { trialId: string; sequenceId: number; points: [number, number][] }[]; total: number }>(
        'charts/intermediate' + query({ key: metricKey, select: interSelect, limit: interLimit, mode, points: 120 }));
      if (tab !== chartTab) return;
      if (!data.series.length) { nothing('No intermediate results yet.'); return; }
      draw(chartEl, {
        grid: { left: 70, right: 30, top: 30, bottom: 60 },
        tooltip: tooltip((p) => {
          const item = p as { seriesName: string; value: [number, number] };
          return tip([['Trial', item.seriesName], ['Step', String(item.value[0])], [metricKey, formatNumber(item.value[1])]]);
        }),
        dataZoom: [{ type: 'inside' }, { type: 'slider', height: 18, bottom: 8 }],
        xAxis: { type: 'value', name: 'step' },
        yAxis: { type: 'value', scale: true, name: metricKey },
        series: data.series.map((s, i) => ({ type: 'line', name: `#${s.sequenceId} ${s.trialId}`, data: s.points, showSymbol: false,
          lineStyle: { width: 1 }, color: PALETTE[i % PALETTE.length], emphasis: { focus: 'series' } })),
      });
      chartNote.textContent = `${data.series.length} of ${data.total} trials with intermediate results (${interSelect}).`;
    } else if (tab === 'importance') {
      const data = await getJson<{ importance: { param: string; importance: number }[]; trials: number }>('importance' + query({ key: metricKey }));
      if (tab !== chartTab) return;
      if (!data.importance.length) { nothing('Importance needs at least 4 trials with a numeric result.'); return; }
      const rows = [...data.importance].reverse();
      draw(chartEl, {
        grid: { left: 140, right: 40, top: 20, bottom: 40 },
        tooltip: tooltip((p) => { const r = rows[byIndex(p)]; return tip([['Parameter', r.param], ['Importance', formatNumber(r.importance)]]); }),
        xAxis: { type: 'value', name: 'importance', max: 1 },
        yAxis: { type: 'category', data: rows.map((r) => r.param) },
        series: [{ type: 'bar', data: rows.map((r) => r.importance), barMaxWidth: 24 }],
      });
      chartNote.textContent = `Random-forest importance (mean decrease in impurity) over ${data.trials} trials.`;
    } else if (tab === 'slice') {
      const data = await getJson<ParamTable>('charts/params' + query({ key: metricKey, top: 1, mode, limit: 5000 }));
      if (tab !== chartTab) return;
      const column = data.columns.find((c) => c.name === sliceParam);
      if (!column || !data.shown) { nothing('No trial with this parameter and a numeric result yet.'); return; }
      const points = data.metric.map((m, i) => [column.values[i], m, data.sequenceIds[i]]).filter((p) => p[0] !== null);
      draw(chartEl, {
        grid: { left: 70, right: 90, top: 30, bottom: 50 },
        tooltip: tooltip((p) => {
          const point = points[byIndex(p)];
          return tip([['Trial No.', String(point[2])], [sliceParam, formatValue(point[0] as Json)], [metricKey, formatNumber(point[1] as number)]]);
        }),
        visualMap: { type: 'continuous', dimension: 2, min: Math.min(...data.sequenceIds), max: Math.max(...data.sequenceIds) + 1,
          right: 0, top: 'middle', text: ['later', 'earlier'], inRange: { color: ['#d0dbf5', '#1b2f6b'] } },
        xAxis: { ...axisFor(column), name: sliceParam },
        yAxis: { type: 'value', scale: true, name: metricKey },
        series: [{ type: 'scatter', data: points, symbolSize: points.length > 2000 ? 4 : 8 }],
      });
    } else if (tab === 'contour') {
      if (!contourX || !contourY) { nothing('A contour plot needs at least two parameters.'); return; }
      const data = await getJson<{ axes: { name: string; type: string; log?: boolean; categories?: string[] }[];
        grid: { x: number[]; y: number[]; z: number[][]; zMin: number; zMax: number }; points: [number, number, number, string][] }>(
        'charts/contour' + query({ key: metricKey, x: contourX, y: contourY }));
      if (tab !== chartTab) return;
      if (!data.points.length) { nothing('No trial with both parameters and a numeric result yet.'); return; }
      const g = data.grid;
      const cells: [number, number, number][] = [];
      g.z.forEach((row, j) => row.forEach((z, i) => cells.push([g.x[i], g.y[j], z])));
      const width = chartEl.clientWidth || 800;
      const height = chartEl.clientHeight || 360;
      const label = (axis: { type: string; log?: boolean; categories?: string[] }) => (v: number) => {
        if (axis.type === 'categorical') return axis.categories?.[Math.round(v)] ?? '';
        return formatNumber(axis.log ? 10 ** v : v);
      };
      const axisOption = (k: number) => ({
        type: 'value', name: data.axes[k].name + (data.axes[k].log ? ' (log)' : ''), min: k ? g.y[0] : g.x[0],
        max: k ? g.y[g.y.length - 1] : g.x[g.x.length - 1], axisLabel: { formatter: label(data.axes[k]) },
        minInterval: data.axes[k].type === 'categorical' ? 1 : undefined,
      });
      draw(chartEl, {
        grid: { left: 80, right: 100, top: 20, bottom: 50 },
        tooltip: tooltip((p) => {
          const item = p as { seriesIndex: number; dataIndex: number };
          if (item.seriesIndex === 0) return tip([[metricKey + ' (interpolated)', formatNumber(cells[item.dataIndex][2])]]);
          const point = data.points[item.dataIndex];
          return tip([['Trial', point[3]], [contourX, label(data.axes[0])(point[0])], [contourY, label(data.axes[1])(point[1])],
            [metricKey, formatNumber(point[2])]]);
        }),
        visualMap: { type: 'continuous', min: g.zMin, max: g.zMax === g.zMin ? g.zMin + 1 : g.zMax, seriesIndex: 0, dimension: 2,
          right: 0, top: 'middle', calculable: true, inRange: { color: ['#f4f6fb', '#7fa0e6', '#1b2f6b'] } },
        xAxis: axisOption(0),
        yAxis: axisOption(1),
        series: [
          { type: 'scatter', data: cells, symbol: 'rect', symbolSize: [Math.ceil((width - 180) / g.x.length) + 1, Math.ceil((height - 70) / g.y.length) + 1], silent: false },
          { type: 'scatter', data: data.points, symbolSize: 5, itemStyle: { color: '#e0712c', borderColor: '#fff', borderWidth: 0.5 } },
        ],
      });
      chartNote.textContent = `Surface interpolated (inverse distance) from ${data.points.length} trials; dots are trials.`;
    }
  }

  function renderTools(): void {
    const searchBox = h('input', { type: 'search', placeholder: 'Search id, status, parameters…', value: search, 'data-testid': 'trial-search', size: 28 });
    let timer = 0;
    searchBox.addEventListener('input', () => {
      clearTimeout(timer);
      timer = window.setTimeout(() => { search = searchBox.value; offset = 0; loadTable.request(); }, 250);
    });
    const statuses: [string, string][] = [['', 'All statuses'], ...['RUNNING', 'WAITING', 'SUCCEEDED', 'FAILED', 'USER_CANCELED',
      'EARLY_STOPPED', 'SYS_CANCELED'].map((s): [string, string] => [s, s])];
    const picker = h('details', { class: 'picker', 'data-testid': 'column-picker' }, h('summary', null, 'Columns'),
      h('div', { class: 'picker-menu' }, columns().map((c) => {
        const box = h('input', { type: 'checkbox', checked: !hidden.has(c.id), 'data-column': c.id });
        box.addEventListener('change', () => { if (box.checked) hidden.delete(c.id); else hidden.add(c.id); renderTable(); });
        return h('label', null, box, ' ', c.label);
      })));
    const frontBox = h('input', { type: 'checkbox', checked: paretoOnly, 'data-testid': 'pareto-only' });
    frontBox.addEventListener('change', () => { paretoOnly = frontBox.checked; offset = 0; loadTable.request(); });
    replace(tableTools, searchBox,
      select(statuses, statusFilter, (v) => { statusFilter = v; offset = 0; loadTable.request(); }, { 'data-testid': 'status-filter' }),
      summary && hasObjectives(summary.config) ? h('label', null, frontBox, ' Pareto only') : null,
      picker,
      h('button', { 'data-testid': 'compare-button', disabled: selected.size < 2, onclick: () => compareDialog([...selected.values()], metricKey) },
        `Compare${selected.size ? ` (${selected.size})` : ''}`),
      selected.size ? h('button', { onclick: () => { selected.clear(); renderTools(); renderTable(); } }, 'Clear selection') : null,
      h('button', { 'data-testid': 'rerun-failed', title: 'run every failed trial again', onclick: () => rerun('failed') }, 'Rerun failed'),
      select([['20', '20 / page'], ['50', '50 / page'], ['100', '100 / page']], String(limit),
        (v) => { limit = Number(v); offset = 0; loadTable.request(); }, { 'data-testid': 'page-size' }));
  }

  function kill(row: TrialRow): void {
    modal(`Kill trial ${row.trialId}?`, `Trial #${row.sequenceId} is ${row.status}; it will be stopped as USER_CANCELED.`, (close) => [
      h('button', { onclick: close }, 'Cancel'),
      h('button', { class: 'danger', 'data-testid': 'kill-confirm', onclick: async () => {
        close();
        try {
          await postJson(`trials/${encodeURIComponent(row.trialId)}/kill`, {});
          toast(`Trial ${row.trialId} is being killed`);
          loadTable.request();
        } catch (error) { reportError(error); }
      } }, 'Kill'),
    ], 'kill-dialog');
  }

  // Runs again with the same parameters and parameter id; the tuner gets the new result.
  async function rerun(trialId: string): Promise<void> {
    try {
      const answer = await postJson<{ rerun: { trialId: string; rerunOf: string }[] }>(
        `trials/${encodeURIComponent(trialId)}/rerun`, {});
      toast(answer.rerun.length
        ? answer.rerun.map((r) => `Trial ${r.rerunOf} runs again as ${r.trialId}`).join('; ')
        : 'No failed trial to run again');
      loadTable.request();
    } catch (error) { reportError(error); }
  }

  function renderTable(): void {
    if (!page) return;
    const cols = columns().filter((c) => !hidden.has(c.id));
    const head = h('tr', null, h('th', { class: 'narrow' }),
      cols.map((c) => {
        const active = c.sort === sort;
        return h('th', { class: c.sort ? 'sortable' : '', 'data-sort': c.sort ?? null, 'aria-sort': active ? (order === 'asc' ? 'ascending' : 'descending') : null,
          onclick: () => {
            if (!c.sort) return;
            if (sort === c.sort) order = order === 'asc' ? 'desc' : 'asc'; else { sort = c.sort; order = c.sort.startsWith('metric:') ? 'desc' : 'asc'; }
            offset = 0;
            loadTable.request();
          } }, c.label, active ? (order === 'asc' ? ' ▲' : ' ▼') : '');
      }), h('th', { class: 'ops' }, 'Operation'));
    const body = h('tbody');
    for (const row of page.rows) {
      if (selected.has(row.trialId)) selected.set(row.trialId, row);
      const box = h('input', { type: 'checkbox', checked: selected.has(row.trialId), 'aria-label': `select ${row.trialId}` });
      box.addEventListener('change', () => { if (box.checked) selected.set(row.trialId, row); else selected.delete(row.trialId); renderTools(); });
      const open = expanded === row.trialId;
      const tr = h('tr', { class: `trial-row ${STATUS_CLASS[row.status] ?? ''}${open ? ' open' : ''}`, 'data-trial': row.trialId },
        h('td', { class: 'narrow' }, box),
        cols.map((c) => h('td', null, c.cell(row))),
        h('td', { class: 'ops' }, h('div', null,
          h('button', { class: 'small', 'data-action': 'detail', onclick: () => toggle(row.trialId) }, open ? 'Hide' : 'Detail'),
          h('button', { class: 'small', 'data-action': 'customize', onclick: () => customizeDialog(row) }, 'Customize'),
          row.status === 'RUNNING' || row.status === 'WAITING'
            ? h('button', { class: 'small danger', 'data-action': 'kill', onclick: () => kill(row) }, 'Kill')
            : h('button', { class: 'small', 'data-action': 'rerun', title: 'run again with the same parameters',
              onclick: () => rerun(row.trialId) }, 'Rerun'))));
      body.appendChild(tr);
      if (open) {
        if (!expandedPanel) expandedPanel = trialPanel(row.trialId);
        body.appendChild(h('tr', { class: 'detail-row' }, h('td', { colspan: cols.length + 2 }, expandedPanel.el)));
      }
    }
    const table = h('table', { class: 'table trials', 'data-testid': 'trial-table', 'data-revision': page.revision },
      h('thead', null, head), body);
    replace(tableBox, page.rows.length ? table : emptyNote(page.totalAll ? 'No trial matches.' : 'No trials yet.'));
    const pages = Math.max(1, Math.ceil(page.total / limit));
    const current = Math.floor(offset / limit) + 1;
    const go = (n: number) => { offset = (Math.min(Math.max(n, 1), pages) - 1) * limit; loadTable.request(); };
    replace(pager,
      h('span', { 'data-testid': 'trial-total' }, `${page.total} trial${page.total === 1 ? '' : 's'}${page.total !== page.totalAll ? ` (of ${page.totalAll})` : ''}`),
      h('button', { disabled: current <= 1, onclick: () => go(1) }, '«'),
      h('button', { disabled: current <= 1, onclick: () => go(current - 1), 'data-testid': 'page-prev' }, '‹'),
      h('span', { 'data-testid': 'page-number' }, `page ${current} of ${pages}`),
      h('button', { disabled: current >= pages, onclick: () => go(current + 1), 'data-testid': 'page-next' }, '›'),
      h('button', { disabled: current >= pages, onclick: () => go(pages) }, '»'));
  }

  function toggle(trialId: string): void {
    expanded = expanded === trialId ? null : trialId;
    expandedPanel = null;
    renderTable();
  }

  function onChange(change: ChangeEvent): void {
    tableLater();
    if (change.kinds.includes('trial') || change.kinds.includes('metric')) chartLater();
    if (expanded && expandedPanel && (change.more || change.trials.includes(expanded))) expandedPanel.refresh();
  }

  return {
    mount(el) {
      const chartCard = card('Trial charts', { 'data-testid': 'panel-charts' }, metricBar,
        tabs(CHART_TABS, chartTab, (id) => { chartTab = id; renderChartControls(); requestChart(); }, 'chart-tabs'),
        chartControls, chartEl, chartNote);
      root = h('div', { class: 'page trials', 'data-testid': 'page-trials' }, chartCard,
        card('Trial jobs', { 'data-testid': 'panel-table' }, tableTools, tableBox, pager));
      el.appendChild(root);
      renderTools();
      loadTable.request();
      unsubs.push(live.onSummary((s) => {
        const first = summary === null;
        const keysChanged = !summary || JSON.stringify([summary.metricKeys, summary.paramKeys]) !== JSON.stringify([s.metricKeys, s.paramKeys]);
        summary = s;
        if (first) mode = s.optimizeMode;
        defaultHidden(s);
        renderMetricBar(s);
        if (keysChanged) { renderChartControls(); renderTools(); renderTable(); }
        if (first) firstChart();
      }));
      unsubs.push(live.onChange(onChange));
    },
    unmount() {
      unsubs.forEach((u) => u());
      dispose(chartEl);
      root.remove();
    },
  };
}
