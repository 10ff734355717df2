// ECharts is most of the bundle: it loads on the first chart so the tables show without waiting.
import { reportError } from './api';
import type { ECharts } from 'echarts/core';
import type { Option } from './chartbits';
import type * as Charts from './charts';

let loaded: typeof Charts | null = null;
let loading: Promise<typeof Charts> | null = null;

function charts(): Promise<typeof Charts> {
  if (loaded) return Promise.resolve(loaded);
  loading ??= import('./charts').then((m) => (loaded = m));
  return loading;
}

/** Draw once ECharts is here (see charts.ts `draw`). */
export function draw(el: HTMLElement, option: Option, current: () => boolean = () => true): void {
  drawWith(el, option, () => undefined, current);
}

/** Like `draw`, then hands the chart to `ready` (to bind clicks or read pixel positions). */
export function drawWith(el: HTMLElement, option: Option, ready: (chart: ECharts) => void,
                         current: () => boolean = () => true): void {
  if (el.dataset.state !== 'loading') el.dataset.state = 'drawing';
  charts().then((m) => { if (el.isConnected && current()) ready(m.draw(el, option, current)); }).catch(reportError);
}

export function dispose(el: HTMLElement): void {
  loaded?.dispose(el);
}
