// ECharts, tree-shaken to the chart types the portal draws, and a small wrapper that marks a
// chart's container ready once it has painted (the benchmark and the tests wait on it).
import * as echarts from 'echarts/core';
import { BarChart, HeatmapChart, LineChart, ParallelChart, ScatterChart } from 'echarts/charts';
import {
  DataZoomComponent, GridComponent, LegendComponent, ParallelComponent, TooltipComponent, VisualMapComponent,
} from 'echarts/components';
import { CanvasRenderer } from 'echarts/renderers';
import { h } from './dom';

echarts.use([
  BarChart, HeatmapChart, LineChart, ParallelChart, ScatterChart, DataZoomComponent, GridComponent,
  LegendComponent, ParallelComponent, TooltipComponent, VisualMapComponent, CanvasRenderer,
]);

export type Option = echarts.EChartsCoreOption;

export const PALETTE = ['#3f6fd8', '#e0712c', '#2f9e6e', '#c23b5a', '#8757c7', '#b08a1a', '#1f9bb5', '#6d7a8c'];

const charts = new WeakMap<HTMLElement, echarts.ECharts>();
const observer = new ResizeObserver((entries) => {
  for (const entry of entries) charts.get(entry.target as HTMLElement)?.resize();
});

/**
 * Draw `option` into `el`, replacing what was there. After the paint data-state becomes 'ready',
 * or 'stale' when `current()` says a newer request has superseded this one.
 */
export function draw(el: HTMLElement, option: Option, current: () => boolean = () => true): echarts.ECharts {
  let chart = charts.get(el);
  if (!chart) {
    chart = echarts.init(el, null, { renderer: 'canvas' });
    charts.set(el, chart);
    observer.observe(el);
  }
  el.dataset.state = 'drawing';
  const target = chart;
  target.off('finished');
  target.on('finished', () => {
    el.dataset.state = current() ? 'ready' : 'stale';
    target.off('finished');
  });
  target.setOption({ animation: false, color: PALETTE, ...option }, { notMerge: true });
  return target;
}

export function dispose(el: HTMLElement): void {
  const chart = charts.get(el);
  if (chart) {
    observer.unobserve(el);
    chart.dispose();
    charts.delete(el);
  }
}

/** A tooltip body built from text nodes: trial data never reaches ECharts' HTML path. */
export function tip(lines: [string, string][]): HTMLElement {
  return h('div', { class: 'tip' }, lines.map(([k, v]) => h('div', null, h('b', null, k + ': '), v)));
}

/** Tooltip settings whose formatter returns DOM (built by `tip`) rather than an HTML string. */
export function tooltip(formatter: (params: unknown) => HTMLElement, trigger: 'item' | 'axis' = 'item'): Option {
  return { trigger, confine: true, formatter, appendTo: 'body' };
}
