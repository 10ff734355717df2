// ECharts, tree-shaken to the chart types the portal draws, and a small wrapper that marks a
// chart's container ready once it has painted (the benchmark and the tests wait on it).
import * as echarts from 'echarts/core';
import { BarChart, HeatmapChart, LineChart, ParallelChart, ScatterChart } from 'echarts/charts';
import {
  DataZoomComponent, GridComponent, LegendComponent, ParallelComponent, TooltipComponent, VisualMapComponent,
} from 'echarts/components';
import { CanvasRenderer } from 'echarts/renderers';
import { PALETTE, type Option } from './chartbits';

echarts.use([
  BarChart, HeatmapChart, LineChart, ParallelChart, ScatterChart, DataZoomComponent, GridComponent,
  LegendComponent, ParallelComponent, TooltipComponent, VisualMapComponent, CanvasRenderer,
]);


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
