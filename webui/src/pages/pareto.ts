// The Overview's Pareto panel (experiments with objectives or constraints only): the front as a
// scatter (two objectives: with its staircase; three or more: a chosen pair plus parallel
// coordinates over all), infeasible trials apart, hypervolume over finished trials. It redraws
// live, throttled, and a click on a point opens that trial.
import type { ECharts } from 'echarts/core';
import { SingleFlight, getJson } from '../api';
import { PALETTE, tip, tooltip, type Option } from '../chartbits';
import { dispose, drawWith } from '../lazy';
import { h, replace, select } from '../dom';
import { formatNumber } from '../format';
import { live } from '../live';
import { staircase, type ParetoAnswer, type ParetoPoint, type PointKind } from '../pareto';
import { trialPanel } from '../trialviews';
import { card, emptyNote, modal, throttle } from '../ui';

const KINDS: { kind: PointKind; label: string; color: string; symbol: string; size: number; opacity: number }[] = [
  { kind: 'front', label: 'Pareto front', color: PALETTE[0], symbol: 'circle', size: 9, opacity: 1 },
  { kind: 'dominated', label: 'dominated', color: '#8d99ae', symbol: 'circle', size: 5, opacity: 0.3 },
  { kind: 'infeasible', label: 'infeasible', color: '#c23b5a', symbol: 'triangle', size: 7, opacity: 0.55 },
];

function valueOf(point: ParetoPoint, objective: number): number { return point[3 + objective] as number; }

/** The trial's record (the trials page's detail view) in a dialog. */
function openTrial(point: ParetoPoint): void {
  const panel = trialPanel(point[0]);
  modal(`Trial #${point[1]} ${point[0]}`, panel.el, (close) => h('button', { onclick: close }, 'Close'), 'pareto-trial-dialog', true);
}

/** Which point a chart event is about: every series' data items end with the point's index. */
function pointOf(data: ParetoAnswer, params: unknown): ParetoPoint | null {
  const value = (params as { value?: unknown }).value;
  const index = Array.isArray(value) ? value[value.length - 1] : null;
  return typeof index === 'number' ? data.points[index] ?? null : null;
}

export function paretoPanel(): { el: HTMLElement; dispose: () => void } {
  let data: ParetoAnswer | null = null;
  let pairX = 0;
  let pairY = 1;
  const controls = h('div', { class: 'controls' });
  const note = h('div', { class: 'hint', 'data-testid': 'pareto-note' });
  const scatterEl = h('div', { class: 'chart', 'data-testid': 'pareto-chart' });
  const parallelEl = h('div', { class: 'chart', 'data-testid': 'pareto-parallel' });
  const hvEl = h('div', { class: 'chart small', 'data-testid': 'pareto-hv' });
  const hvNote = h('div', { class: 'hint', 'data-testid': 'pareto-hv-note' });
  const el = card('Pareto front', { 'data-testid': 'panel-pareto' }, controls, note, scatterEl, parallelEl,
    h('h3', { class: 'subhead' }, 'Hypervolume over finished trials'), hvEl, hvNote);

  const load = new SingleFlight(async () => {
    data = await getJson<ParetoAnswer>('pareto');
    render();
  });
  const later = throttle(() => load.request(), 2000);
  const unsub = live.onChange((change) => {
    if (change.kinds.includes('trial') || change.kinds.includes('metric')) later();
  });
  load.request();

  function render(): void {
    const d = data;
    if (!d) return;
    const m = d.objectives.length;
    if (pairX >= m) pairX = 0;
    if (pairY >= m || pairY === pairX) pairY = pairX === 0 ? Math.min(1, m - 1) : 0;
    const names = d.objectives.map((o, i): [string, string] => [String(i), `${o.metric} (${o.mode})`]);
    replace(controls, m > 2 ? [
      h('label', null, 'x ', select(names, String(pairX), (v) => { pairX = Number(v); render(); }, { 'data-testid': 'pareto-x' })),
      h('label', null, ' y ', select(names, String(pairY), (v) => { pairY = Number(v); render(); }, { 'data-testid': 'pareto-y' })),
    ] : null);
    const c = d.counts;
    note.textContent = `${c.front} on the front · ${c.feasible} feasible · ${c.infeasible} infeasible`
      + (c.unusable ? ` · ${c.unusable} without usable results` : '')
      + (d.shown < c.usable ? ` · showing ${d.shown} of ${c.usable} points (every front point)` : '');
    parallelEl.hidden = m < 3;
    if (!d.points.length) {
      for (const chart of [scatterEl, parallelEl, hvEl]) { dispose(chart); chart.dataset.state = 'ready'; }
      replace(scatterEl, emptyNote('No trial has reported every objective yet.'));
      Object.assign(scatterEl.dataset, { results: String(c.results), front: '0', dominated: '0', infeasible: '0', probe: '' });
      return;
    }
    scatterEl.querySelector('.empty')?.remove();
    drawScatter(d, m);
    if (m > 2) drawParallel(d);
    drawHypervolume(d);
  }

  function bindClick(chart: ECharts, d: ParetoAnswer): void {
    chart.off('click');
    chart.on('click', (params) => { const point = pointOf(d, params); if (point) openTrial(point); });
  }

  function tipFor(d: ParetoAnswer, params: unknown): HTMLElement {
    const point = pointOf(d, params);
    if (!point) return tip([]);
    return tip([['Trial', `#${point[1]} ${point[0]}`], ['', point[2]],
      ...d.objectives.map((o, i): [string, string] => [o.metric, formatNumber(valueOf(point, i))])]);
  }

  function drawScatter(d: ParetoAnswer, m: number): void {
    // One objective (constraints alone): plotted against the trial number.
    const y = m === 1 ? 0 : pairY;
    const xOf = (p: ParetoPoint) => (m === 1 ? p[1] : valueOf(p, pairX));
    const groups = KINDS.map((k) => d.points.flatMap((p, i) => (p[2] === k.kind ? [[xOf(p), valueOf(p, y), i]] : [])));
    const front = groups[0].map((p): [number, number] => [p[0], p[1]]);
    const series: Option[] = KINDS.map((k, i) => ({
      type: 'scatter', name: k.label, data: groups[i], symbol: k.symbol, symbolSize: k.size, z: 3 - i,
      itemStyle: { color: k.color, opacity: k.opacity }, large: groups[i].length > 2000, largeThreshold: 2000,
    }));
    if (m === 2) {
      series.push({ type: 'line', name: 'front line', data: staircase(front, [d.objectives[0].mode, d.objectives[1].mode]),
        showSymbol: false, silent: true, lineStyle: { width: 1.5, color: PALETTE[0] }, z: 4 });
    }
    const axis = (i: number | null) => ({ type: 'value', scale: true, nameLocation: 'middle', nameGap: 30, axisLine: { onZero: false },
      name: i === null ? 'Trial No.' : `${d.objectives[i].metric} (${d.objectives[i].mode})` });
    drawWith(scatterEl, {
      grid: { left: 70, right: 30, top: 40, bottom: 50 },
      legend: { top: 0, data: KINDS.map((k) => k.label) },
      tooltip: tooltip((p) => tipFor(d, p)),
      xAxis: axis(m === 1 ? null : pairX),
      yAxis: { ...axis(y), nameGap: 50 },
      series,
    }, (chart) => {
      bindClick(chart, d);
      scatterEl.dataset.results = String(d.counts.results);
      scatterEl.dataset.front = String(groups[0].length);
      scatterEl.dataset.dominated = String(groups[1].length);
      scatterEl.dataset.infeasible = String(groups[2].length);
      scatterEl.dataset.probe = probe(chart, groups[0], d);
    });
  }

  /** Where the front point farthest from the others is painted, "x,y,trialId": a test clicks it. */
  function probe(chart: ECharts, front: number[][], d: ParetoAnswer): string {
    const pixels = front.map((p) => chart.convertToPixel({ seriesIndex: 0 }, [p[0], p[1]]) as number[]);
    let best = -1;
    let room = -1;
    pixels.forEach(([x, y], i) => {
      const nearest = Math.min(Infinity, ...pixels.map(([u, v], j) => (i === j ? Infinity : Math.hypot(u - x, v - y))));
      if (nearest > room) { room = nearest; best = i; }
    });
    if (best < 0) return '';
    return `${Math.round(pixels[best][0])},${Math.round(pixels[best][1])},${d.points[front[best][2]][0]}`;
  }

  function drawParallel(d: ParetoAnswer): void {
    // Each line's values end with the point's index, past the last axis: clicks and tooltips read it.
    const rows = (kind: PointKind) => d.points.flatMap((p, i) => (p[2] === kind ? [[...p.slice(3) as number[], i]] : []));
    drawWith(parallelEl, {
      legend: { top: 0, data: KINDS.map((k) => k.label) },
      tooltip: tooltip((p) => tipFor(d, p)),
      parallel: { left: 60, right: 60, top: 50, bottom: 30 },
      parallelAxis: d.objectives.map((o, i) => ({ dim: i, name: `${o.metric} (${o.mode})`, scale: true })),
      series: [...KINDS].reverse().map((k) => ({
        type: 'parallel', name: k.label, data: rows(k.kind), progressive: 1000, smooth: false,
        lineStyle: { color: k.color, width: k.kind === 'front' ? 1.5 : 1, opacity: k.kind === 'front' ? 0.7 : k.opacity * 0.5 },
      })),
    }, (chart) => bindClick(chart, d));
  }

  function drawHypervolume(d: ParetoAnswer): void {
    const points = d.hypervolume.points;
    const reference = d.hypervolume.reference;
    hvEl.dataset.points = String(points.length);
    hvNote.textContent = reference ? `Feasible front against the reference point (${reference.map(formatNumber).join(', ')}) `
      + 'in loss terms (maximized objectives negated): the worst feasible value of each plus 10% of its range.' : '';
    drawWith(hvEl, {
      grid: { left: 70, right: 30, top: 34, bottom: 40 },
      tooltip: { trigger: 'axis', confine: true },
      xAxis: { type: 'value', name: 'finished trials', nameLocation: 'middle', nameGap: 26, minInterval: 1 },
      yAxis: { type: 'value', scale: true, name: 'hypervolume' },
      series: [{ type: 'line', step: 'end', data: points, showSymbol: points.length < 50, color: PALETTE[2] }],
    }, () => undefined);
  }

  return {
    el,
    dispose() {
      unsub();
      for (const chart of [scatterEl, parallelEl, hvEl]) dispose(chart);
    },
  };
}
