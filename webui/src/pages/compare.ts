// Several experiments side by side: their best-so-far curves on one chart (and, with two metric keys,
// their Pareto fronts), what differs between their configs and search spaces, and one export of all
// their results. Reloaded every few seconds
// while one of them runs.
import { SingleFlight, download, getJson, query, reportError, rootApi } from '../api';
import { tip, tooltip } from '../chartbits';
import { h, replace, select } from '../dom';
import { formatNumber, formatValue } from '../format';
import { dispose, draw } from '../lazy';
import type { Page } from '../main';
import type { Comparison, ConfigDifference, Mode } from '../types';
import { badge, card, emptyNote } from '../ui';

const LIVE_RELOAD_MS = 3000;

function chosenIds(): string[] {
  const params = new URLSearchParams(location.hash.split('?')[1] ?? '');
  return (params.get('ids') ?? '').split(',').filter(Boolean);
}

function differenceTable(rows: ConfigDifference[], data: Comparison, testid: string, same: string): HTMLElement {
  if (!rows.length) return emptyNote(same);
  const ids = data.experiments.map((e) => e.id);
  return h('div', { class: 'table-wrap' }, h('table', { class: 'table', 'data-testid': testid },
    h('thead', null, h('tr', null, h('th', null, 'Setting'), data.experiments.map((e) => h('th', null, e.name)))),
    h('tbody', null, rows.map((row) => h('tr', { 'data-path': row.path },
      h('td', { class: 'mono' }, row.path),
      ids.map((id) => h('td', { class: 'mono' }, row.missing.includes(id) ? '—' : formatValue(row.values[id]))))))));
}

export function comparePage(): Page {
  let root: HTMLElement;
  let timer = 0;
  const ids = chosenIds();
  const chartEl = h('div', { class: 'chart', 'data-testid': 'compare-chart' });
  const frontEl = h('div', { class: 'chart', 'data-testid': 'compare-front' });
  const curveControls = h('div', { class: 'controls' });
  const frontControls = h('div', { class: 'controls' });
  const frontCard = card('Pareto front', { 'data-testid': 'panel-compare-front' }, frontControls, frontEl);
  frontCard.hidden = true;
  const summaryBox = h('div');
  const configBox = h('div');
  const spaceBox = h('div');
  let key = 'default';
  let front: [string, string] | null = null;
  let modes: [Mode, Mode] = ['maximize', 'minimize'];
  let knownKeys = '';
  const load = new SingleFlight(async () => {
    const data = await getJson<Comparison>('compare' + query({ ids: ids.join(','), key,
      front: front?.join(','), frontModes: front ? modes.join(',') : undefined }), undefined, rootApi);
    if (!front && data.metricKeys.length >= 2) {
      // Two metric keys reported: show their front at once (the second minimized, as a loss or a cost is).
      front = [data.metricKeys[0], data.metricKeys[1]];
      load.request();
    }
    controls(data.metricKeys);
    render(data);
    renderFront(data);
    clearTimeout(timer);
    if (data.experiments.some((e) => e.live)) timer = window.setTimeout(() => load.request(), LIVE_RELOAD_MS);
  });

  function render(data: Comparison): void {
    chartEl.dataset.series = String(data.experiments.filter((e) => e.curve.length).length);
    replace(summaryBox, h('table', { class: 'table', 'data-testid': 'compare-table' },
      h('thead', null, h('tr', null, ['Name', 'ID', 'Status', 'Mode', 'Trials', 'Succeeded', 'Best'].map((c) => h('th', null, c)))),
      h('tbody', null, data.experiments.map((e) => h('tr', { 'data-experiment': e.id },
        h('td', null, e.name), h('td', { class: 'mono' }, e.id), h('td', null, badge(e.status)), h('td', null, e.optimizeMode),
        h('td', null, String(e.trialCount)), h('td', null, String(e.succeeded)),
        h('td', null, e.best === null ? '—' : formatNumber(e.best)))))));
    replace(configBox, differenceTable(data.config, data, 'config-diff', 'The configs are the same.'));
    replace(spaceBox, differenceTable(data.searchSpace, data, 'space-diff', 'The search spaces are the same.'));
    if (!data.experiments.some((e) => e.curve.length)) {
      replace(chartEl, emptyNote('No experiment has a numeric final result yet.'));
      chartEl.dataset.state = 'ready';
      return;
    }
    draw(chartEl, {
      grid: { left: 70, right: 30, top: 40, bottom: 60 },
      legend: { top: 0 },
      tooltip: tooltip((p) => {
        const item = p as { seriesIndex: number; dataIndex: number };
        const exp = data.experiments[item.seriesIndex];
        const point = exp.curve[item.dataIndex];
        return tip([['Experiment', exp.name], ['After trial', `#${point[0]}`], ['Best trial', point[2]], [data.key, formatNumber(point[1])]]);
      }),
      dataZoom: [{ type: 'inside' }, { type: 'slider', height: 18, bottom: 8 }],
      xAxis: { type: 'value', name: 'Trial No.', minInterval: 1 },
      yAxis: { type: 'value', scale: true, name: `best ${data.key}` },
      series: data.experiments.map((e) => ({
        type: 'line', name: `${e.name} (${e.id})`, step: 'end', showSymbol: true, symbolSize: 5,
        data: e.curve.map((p) => [p[0], p[1]]), lineStyle: { width: 2 },
      })),
    });
  }

  function controls(metricKeys: string[]): void {
    if (metricKeys.join('\n') === knownKeys) return;
    knownKeys = metricKeys.join('\n');
    const keys: [string, string][] = metricKeys.map((k) => [k, k]);
    const directions: [string, string][] = [['maximize', 'maximize'], ['minimize', 'minimize']];
    replace(curveControls, h('label', null, 'Metric ', select(keys.length ? keys : [['default', 'default']], key,
      (v) => { key = v; load.request(); }, { 'data-testid': 'compare-key' })));
    frontCard.hidden = metricKeys.length < 2;
    if (!front) return;
    const chosen = front;
    const pick = (axis: 0 | 1): HTMLElement => h('label', null, axis ? ' y ' : 'x ',
      select(keys, chosen[axis], (v) => { chosen[axis] = v; load.request(); }, { 'data-testid': `front-key-${axis}` }),
      select(directions, modes[axis], (v) => { modes[axis] = v as Mode; load.request(); }, { 'data-testid': `front-mode-${axis}` }));
    replace(frontControls, pick(0), pick(1));
  }

  function renderFront(data: Comparison): void {
    if (!data.front) return;
    const [kx, ky] = data.front.keys;
    const shown = data.experiments.filter((e) => e.front?.length);
    frontEl.dataset.series = String(shown.length);
    if (kx === ky) { replace(frontEl, emptyNote('Choose two different metric keys.')); frontEl.dataset.state = 'ready'; return; }
    if (!shown.length) { replace(frontEl, emptyNote(`No trial reported numbers for both ${kx} and ${ky}.`)); frontEl.dataset.state = 'ready'; return; }
    draw(frontEl, {
      grid: { left: 70, right: 30, top: 40, bottom: 50 },
      legend: { top: 0 },
      tooltip: tooltip((p) => {
        const item = p as { seriesIndex: number; dataIndex: number };
        const exp = shown[item.seriesIndex];
        const point = exp.front![item.dataIndex];
        return tip([['Experiment', exp.name], ['Trial', `#${point[3]} ${point[2]}`], [kx, formatNumber(point[0])], [ky, formatNumber(point[1])]]);
      }),
      xAxis: { type: 'value', scale: true, name: `${kx} (${data.front.modes[0]})` },
      yAxis: { type: 'value', scale: true, name: `${ky} (${data.front.modes[1]})` },
      series: shown.map((e) => ({
        type: 'line', name: `${e.name} (${e.id})`, showSymbol: true, symbolSize: 7,
        data: e.front!.map((p) => [p[0], p[1]]), lineStyle: { width: 1.5, type: 'dashed' },
      })),
    });
  }

  function exporter(type: 'csv' | 'json'): HTMLElement {
    return h('button', { 'data-testid': `export-${type}`,
      onclick: () => { download('export' + query({ ids: ids.join(','), type }), `nni-experiments.${type}`).catch(reportError); } },
    `Export ${type.toUpperCase()}`);
  }

  return {
    mount(el) {
      const body = ids.length
        ? [card('Best so far', { 'data-testid': 'panel-compare-chart' }, curveControls, chartEl), frontCard,
          card('Experiments', {}, h('div', { class: 'controls' }, exporter('csv'), exporter('json')), summaryBox),
          card('Config differences', {}, configBox), card('Search space differences', {}, spaceBox)]
        : [card('Compare', {}, emptyNote('Choose experiments on the All experiments page, then Compare selected.'))];
      root = h('div', { class: 'page compare', 'data-testid': 'page-compare' }, body);
      el.appendChild(root);
      if (ids.length) load.request();
    },
    unmount() { clearTimeout(timer); dispose(chartEl); dispose(frontEl); root.remove(); },
  };
}
