// What chart options are built from, without ECharts itself (loaded on first use, see lazy.ts).
import type { EChartsCoreOption } from 'echarts/core';
import { h } from './dom';

export type Option = EChartsCoreOption;

export const PALETTE = ['#3f6fd8', '#e0712c', '#2f9e6e', '#c23b5a', '#8757c7', '#b08a1a', '#1f9bb5', '#6d7a8c'];

/** A tooltip body built from text nodes: trial data never reaches ECharts' HTML path. */
export function tip(lines: [string, string][]): HTMLElement {
  return h('div', { class: 'tip' }, lines.map(([k, v]) => h('div', null, h('b', null, k + ': '), v)));
}

/** Tooltip settings whose formatter returns DOM (built by `tip`) rather than an HTML string. */
export function tooltip(formatter: (params: unknown) => HTMLElement, trigger: 'item' | 'axis' = 'item'): Option {
  return { trigger, confine: true, formatter, appendTo: 'body' };
}
