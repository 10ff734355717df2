// Turning values into text. Metrics may be numbers, the strings "NaN"/"Infinity", other strings,
// dicts or absent: every case has a readable form and none throws.
import type { Json } from './types';

export function metricOf(value: Json | undefined, key: string): Json | undefined {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) return value[key];
  return key === 'default' ? value : undefined;
}

export function numberOf(value: Json | undefined): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

export function formatNumber(value: number): string {
  if (Number.isInteger(value)) return String(value);
  const abs = Math.abs(value);
  if (abs !== 0 && (abs < 1e-3 || abs >= 1e6)) return value.toExponential(4);
  return String(Number(value.toPrecision(6)));
}

export function formatValue(value: Json | undefined): string {
  if (value === undefined || value === null) return '—';
  if (typeof value === 'number') return formatNumber(value);
  if (typeof value === 'string') return value;
  if (typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

export function formatTime(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms) || ms <= 0) return '—';
  const d = new Date(ms);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '—';
  if (seconds < 10) return `${Math.max(0, seconds).toFixed(1)}s`;
  let s = Math.round(seconds);
  const d = Math.floor(s / 86400); s -= d * 86400;
  const hh = Math.floor(s / 3600); s -= hh * 3600;
  const mm = Math.floor(s / 60); s -= mm * 60;
  const parts: string[] = [];
  if (d) parts.push(`${d}d`);
  if (hh) parts.push(`${hh}h`);
  if (mm) parts.push(`${mm}m`);
  if (s || !parts.length) parts.push(`${s}s`);
  return parts.join(' ');
}

/** Seconds in NNI's duration strings ('30s', '10m', '2h', '1d') or a bare number. */
export function parseDuration(value: Json | undefined): number | null {
  if (typeof value === 'number') return value;
  if (typeof value !== 'string') return null;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$/.exec(value);
  if (!m) return null;
  const unit: Record<string, number> = { '': 1, s: 1, m: 60, h: 3600, d: 86400 };
  return Number(m[1]) * unit[m[2]];
}

export function pretty(value: Json | undefined): string {
  return JSON.stringify(value ?? null, null, 2);
}

export const STATUS_CLASS: Record<string, string> = {
  RUNNING: 'st-running', WAITING: 'st-waiting', SUCCEEDED: 'st-ok', DONE: 'st-ok', FAILED: 'st-bad',
  ERROR: 'st-bad', USER_CANCELED: 'st-stopped', SYS_CANCELED: 'st-stopped', EARLY_STOPPED: 'st-stopped',
  STOPPED: 'st-stopped', STOPPING: 'st-stopped', NO_MORE_TRIAL: 'st-ok', TUNER_NO_MORE_TRIAL: 'st-ok',
  VIEWED: 'st-stopped', INITIALIZED: 'st-waiting',
};
