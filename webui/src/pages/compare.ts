// Several experiments side by side: their best-so-far curves on one chart, what differs between
// their configs and search spaces, and one export of all their results. Reloaded every few seconds
// while one of them runs.
import { SingleFlight, download, getJson, query, reportError, rootApi } from '../api';
import { tip, tooltip } from '../chartbits';
import { h, replace } from '../dom';
import { formatNumber, formatValue } from '../format';
import { dispose, draw } from '../lazy';
import type { Page } from '../main';
import type { Comparison, ConfigDifference } from '../types';
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
  const summaryBox = h('div');
  const configBox = h('div');
  const spaceBox = h('div');
  const load = new SingleFlight(async () => {
    const data = await getJson<Comparison>('compare' + query({ ids: ids.join(',') }), undefined, rootApi);
    render(data);
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
        return tip([['Experiment', exp.name], ['Best after trial', `#${point[0]} ${point[2]}`], [data.key, formatNumber(point[1])]]);
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

  function exporter(type: 'csv' | 'json'): HTMLElement {
    return h('button', { 'data-testid': `export-${type}`,
      onclick: () => { download('export' + query({ ids: ids.join(','), type }), `nni-experiments.${type}`).catch(reportError); } },
    `Export ${type.toUpperCase()}`);
  }

  return {
    mount(el) {
      const body = ids.length
        ? [card('Best so far', { 'data-testid': 'panel-compare-chart' }, chartEl),
          card('Experiments', {}, h('div', { class: 'controls' }, exporter('csv'), exporter('json')), summaryBox),
          card('Config differences', {}, configBox), card('Search space differences', {}, spaceBox)]
        : [card('Compare', {}, emptyNote('Choose experiments on the All experiments page, then Compare selected.'))];
      root = h('div', { class: 'page compare', 'data-testid': 'page-compare' }, body);
      el.appendChild(root);
      if (ids.length) load.request();
    },
    unmount() { clearTimeout(timer); dispose(chartEl); root.remove(); },
  };
}
