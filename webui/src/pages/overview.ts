// Overview: what the experiment is, how far it got, the best trials, its config and logs.
import { SingleFlight, getJson, getText, postJson, query, reportError } from '../api';
import { tip, tooltip } from '../chartbits';
import { dispose, draw } from '../lazy';
import { h, replace, select } from '../dom';
import { formatDuration, formatNumber, formatTime, formatValue, parseDuration, pretty } from '../format';
import { live } from '../live';
import type { Page } from '../main';
import { hasObjectives } from '../pareto';
import { paretoPanel } from './pareto';
import type { ImportedRow, Json, ParamTable, Summary } from '../types';
import { badge, card, emptyNote, field, pre, tabs, throttle, toast } from '../ui';

function text(value: Json | undefined): string {
  return typeof value === 'string' ? value : value === undefined || value === null ? '—' : JSON.stringify(value);
}

function algorithm(config: Record<string, Json>, key: string): string {
  const section = config[key];
  if (!section || typeof section !== 'object' || Array.isArray(section)) return '—';
  const name = section.name ?? section.className;
  return typeof name === 'string' ? name : '—';
}

function platformOf(config: Record<string, Json>): string {
  const ts = config.trainingService;
  if (Array.isArray(ts)) return ts.map((t) => (t && typeof t === 'object' && !Array.isArray(t) ? text(t.platform) : '?')).join(' + ');
  if (ts && typeof ts === 'object') return text(ts.platform);
  return '—';
}

/**
 * An input with a Save button that posts `{[name]: value}` to the experiment. `sync` shows the
 * server's value unless the user is editing, so live updates never clobber what is being typed.
 */
function editor(name: string, label: string, testid: string, parse: (raw: string) => Json | null,
                hint: string): { el: HTMLElement; sync: (value: string) => void } {
  const input = h('input', { type: 'text', 'data-testid': `${testid}-input`, 'aria-label': label, size: 8 });
  let shown = '';
  let dirty = false;
  input.addEventListener('input', () => { dirty = input.value !== shown; });
  const save = async () => {
    const raw = input.value.trim();
    const parsed = parse(raw);
    if (parsed === null) { toast(`${label}: ${hint}`, 'error'); return; }
    try {
      await postJson('experiment', { [name]: parsed });
      dirty = false;
      toast(`${label} set to ${raw}`);
      live.refresh();
    } catch (error) { reportError(error); }
  };
  input.addEventListener('keydown', (e) => { if (e.key === 'Enter') void save(); });
  const el = h('div', { class: 'editor' }, h('label', null, label), input,
    h('button', { 'data-testid': `${testid}-save`, onclick: () => void save() }, 'Save'));
  return {
    el,
    sync(value) {
      shown = value;
      if (!dirty) input.value = value;
    },
  };
}

const positiveInt = (raw: string): number | null => (/^\d+$/.test(raw) && Number(raw) > 0 ? Number(raw) : null);
const durationText = (raw: string): string | null => (parseDuration(raw) ? raw : null);

export function overviewPage(): Page {
  let root: HTMLElement;
  let unsub: (() => void) | null = null;
  let topN = 10;
  let mode: 'maximize' | 'minimize' | null = null;
  let metricKey = 'default';
  let configTab = 'config';
  let logName = '';
  let summary: Summary | null = null;
  let lastConfig = '';
  let pareto: ReturnType<typeof paretoPanel> | null = null;
  const basic = h('div', { class: 'grid basic' });
  const duration = h('div');
  const trialsBox = h('div');
  const topControls = h('div', { class: 'controls' });
  const topChart = h('div', { class: 'chart small', 'data-testid': 'top-chart' });
  const topTable = h('div', { class: 'table-wrap' });
  const configBody = h('div');
  const logSelect = h('div', { class: 'controls' });
  const logBody = h('div');
  const durationEditor = editor('maxExperimentDuration', 'Max duration', 'max-duration', durationText,
    "use '30m', '2h', '1d' or seconds");
  const trialsEditor = editor('maxTrialNumber', 'Max trial number', 'max-trials', positiveInt, 'a whole number of at least 1');
  const concurrencyEditor = editor('trialConcurrency', 'Concurrency', 'concurrency', positiveInt, 'a whole number of at least 1');
  const editors = h('div', { class: 'editors' }, durationEditor.el, trialsEditor.el, concurrencyEditor.el);

  const loadTop = new SingleFlight(async () => {
    if (!summary) return;
    const m = mode ?? summary.optimizeMode;
    const data = await getJson<ParamTable>('charts/params' + query({ key: metricKey, top: 1, limit: topN, mode: m }));
    drawTop(data);
  });
  const loadLogs = new SingleFlight(async () => {
    const { files } = await getJson<{ files: string[] }>('logs');
    if (!logName || !files.includes(logName)) logName = files.find((f) => f.startsWith('nnimanager')) ?? files[0] ?? '';
    replace(logSelect, files.length ? select(files.map((f) => [f, f]), logName, (v) => { logName = v; loadLogs.request(); },
      { 'data-testid': 'log-select' }) : null,
    h('button', { onclick: () => loadLogs.request() }, 'Refresh'));
    if (!logName) { replace(logBody, emptyNote('No log files yet.')); return; }
    const log = await getText('logs/file' + query({ name: logName, tail: 65536 }));
    replace(logBody, log.truncated ? h('div', { class: 'hint' }, `Last 64 KiB of ${log.size} bytes`) : null,
      pre(log.text || '(empty)', 'log-text'));
  });
  const topLater = throttle(() => loadTop.request(), 2000);
  // Results the tuner learned from without running them (import-data, warm starts): shown apart,
  // flagged as imported, so they are never mistaken for trials of this experiment.
  const importedBox = h('div');
  const importedCard = card('Imported results', { 'data-testid': 'panel-imported' }, importedBox);
  importedCard.hidden = true;
  const loadImported = new SingleFlight(async () => {
    const data = await getJson<{ total: number; rows: ImportedRow[] }>('imported' + query({ limit: 100 }));
    importedCard.hidden = data.total === 0;
    if (!data.total) return;
    replace(importedBox,
      h('div', { class: 'hint', 'data-testid': 'imported-count' },
        `${data.total} imported result${data.total === 1 ? '' : 's'}${data.total > data.rows.length ? ` (the newest ${data.rows.length} shown)` : ''}`),
      h('table', { class: 'table', 'data-testid': 'imported-table' },
        h('thead', null, h('tr', null, h('th', null, 'Source'), h('th', null, 'Value'), h('th', null, 'Parameters'))),
        h('tbody', null, data.rows.map((r) => h('tr', { class: 'imported' },
          h('td', { class: 'mono' }, h('span', { class: 'badge' }, 'imported'), ' ', r.source),
          h('td', null, formatValue(r.value)), h('td', { class: 'mono' }, JSON.stringify(r.parameter)))))));
  });

  function drawTop(data: ParamTable): void {
    const m = mode ?? summary?.optimizeMode ?? 'maximize';
    if (!data.trialIds.length) {
      dispose(topChart);
      topChart.dataset.state = 'ready';
      replace(topTable, emptyNote('No trial has reported a numeric final result for this metric yet.'));
      return;
    }
    draw(topChart, {
      grid: { left: 60, right: 20, top: 20, bottom: 40 },
      tooltip: tooltip((p) => {
        const item = p as { dataIndex: number };
        return tip([['Trial', `#${data.sequenceIds[item.dataIndex]} ${data.trialIds[item.dataIndex]}`],
          [metricKey, formatNumber(data.metric[item.dataIndex])]]);
      }),
      xAxis: { type: 'category', name: 'rank', data: data.trialIds.map((_, i) => String(i + 1)) },
      yAxis: { type: 'value', scale: true, name: metricKey },
      series: [{ type: 'bar', data: data.metric, barMaxWidth: 28 }],
    });
    const params = data.columns.map((c) => c.name);
    replace(topTable, h('table', { class: 'table', 'data-testid': 'top-table' },
      h('thead', null, h('tr', null, h('th', null, '#'), h('th', null, 'Trial No.'), h('th', null, 'ID'),
        h('th', null, `${metricKey} (${m})`), params.map((p) => h('th', null, p)))),
      h('tbody', null, data.trialIds.map((id, i) => h('tr', null, h('td', null, String(i + 1)),
        h('td', null, String(data.sequenceIds[i])), h('td', { class: 'mono' }, id), h('td', null, formatNumber(data.metric[i])),
        data.columns.map((c) => h('td', null, formatValue(c.values[i] as Json))))))));
  }

  function renderTopControls(s: Summary): void {
    const m = mode ?? s.optimizeMode;
    replace(topControls,
      h('label', null, 'Top ', select([['10', '10'], ['20', '20'], ['50', '50'], ['100', '100']], String(topN),
        (v) => { topN = Number(v); loadTop.request(); }, { 'data-testid': 'top-n' })),
      h('label', null, ' metric ', select(s.metricKeys.map((k) => [k, k]), metricKey,
        (v) => { metricKey = v; loadTop.request(); }, { 'data-testid': 'top-metric' })),
      h('div', { class: 'toggle', 'data-testid': 'top-mode' },
        (['maximize', 'minimize'] as const).map((x) => h('button', {
          class: x === m ? 'active' : '', onclick: () => { mode = x; renderTopControls(s); loadTop.request(); },
        }, x))));
  }

  function render(s: Summary): void {
    summary = s;
    const c = s.config;
    const p = s.profile;
    replace(basic,
      field('Name', text(c.experimentName ?? s.experimentId), 'exp-name'),
      field('ID', s.experimentId, 'exp-id'),
      field('Status', badge(s.status, true)),
      field('Best metric', s.best ? `${formatNumber(s.best.value)} (trial #${s.best.sequenceId} ${s.best.trialId})` : '—', 'best-metric'),
      field('Log directory', text(p.logDir), 'log-dir'),
      field('Trial command', h('code', null, text(c.trialCommand)), 'trial-command'),
      field('Training platform', platformOf(c), 'platform'),
      field('Tuner', algorithm(c, 'tuner') !== '—' ? algorithm(c, 'tuner') : algorithm(c, 'advisor'), 'tuner'),
      field('Assessor', algorithm(c, 'assessor'), 'assessor'),
      s.error ? h('div', { class: 'error-box', 'data-testid': 'exp-error' }, s.error) : null);

    const elapsed = typeof p.execDuration === 'number' ? p.execDuration : 0;
    const maxSeconds = parseDuration(c.maxExperimentDuration);
    const share = maxSeconds ? Math.min(1, elapsed / maxSeconds) : 0;
    const ring = h('div', { class: 'ring', 'data-testid': 'duration-ring' }, h('div', { class: 'ring-inner' },
      h('b', null, formatDuration(elapsed)), h('span', null, maxSeconds ? `of ${formatDuration(maxSeconds)}` : 'no limit')));
    ring.style.setProperty('--share', String(share));
    const startTime = typeof p.startTime === 'number' ? p.startTime : null;
    const endTime = typeof p.endTime === 'number' ? p.endTime : null;
    replace(duration, h('div', { class: 'duration' }, ring, h('div', null,
      field('Start', formatTime(startTime), 'start-time'), field('End', formatTime(endTime), 'end-time'))));

    const n = s.counts;
    const stopped = (n.USER_CANCELED ?? 0) + (n.SYS_CANCELED ?? 0) + (n.EARLY_STOPPED ?? 0);
    const done = (n.SUCCEEDED ?? 0) + (n.FAILED ?? 0) + stopped;
    const maxTrials = typeof c.maxTrialNumber === 'number' ? c.maxTrialNumber : null;
    const bar = h('div', { class: 'progress', 'data-testid': 'trial-progress' }, h('div', { class: 'fill' }));
    (bar.firstChild as HTMLElement).style.width = `${maxTrials ? Math.min(100, (100 * done) / maxTrials) : 0}%`;
    replace(trialsBox,
      h('div', { class: 'counts', 'data-testid': 'trial-counts' },
        ([['Succeeded', n.SUCCEEDED ?? 0, 'st-ok'], ['Running', n.RUNNING ?? 0, 'st-running'], ['Waiting', n.WAITING ?? 0, 'st-waiting'],
          ['Failed', n.FAILED ?? 0, 'st-bad'], ['Stopped', stopped, 'st-stopped']] as [string, number, string][])
          .map(([label, count, cls]) => h('div', { class: `count ${cls}`, 'data-testid': `count-${label.toLowerCase()}` },
            h('b', null, String(count)), h('span', null, label)))),
      bar,
      h('div', { class: 'hint', 'data-testid': 'trial-progress-text' },
        `${done} finished / ${s.trialCount} submitted${maxTrials ? ` / ${maxTrials} max` : ''}`));

    durationEditor.sync(typeof c.maxExperimentDuration === 'string' || typeof c.maxExperimentDuration === 'number' ? String(c.maxExperimentDuration) : '');
    trialsEditor.sync(String(c.maxTrialNumber ?? ''));
    concurrencyEditor.sync(String(c.trialConcurrency ?? ''));

    renderTopControls(s);
    // Only an experiment with objectives or constraints has a Pareto panel: others look as in NNI.
    if (!pareto && hasObjectives(c)) {
      pareto = paretoPanel();
      root.querySelector('[data-testid=panel-top]')?.before(pareto.el);
    }
    const configText = JSON.stringify([c, configTab]);
    if (configText !== lastConfig) {
      lastConfig = configText;
      renderConfig(s);
    }
  }

  function renderConfig(s: Summary): void {
    const space = s.config.searchSpace ?? null;
    const body = configTab === 'config' ? pre(pretty(s.config), 'config-text') : h('div', null,
      pre(pretty(space), 'search-space-text'),
      h('button', { 'data-testid': 'edit-search-space', onclick: () => editSpace(space) }, 'Edit search space'));
    replace(configBody, body);
  }

  function editSpace(space: Json): void {
    const area = h('textarea', { class: 'code', rows: 14, 'data-testid': 'search-space-editor', value: pretty(space) });
    replace(configBody, area, h('div', { class: 'controls' },
      h('button', { 'data-testid': 'search-space-save', onclick: async () => {
        let parsed: Json;
        try { parsed = JSON.parse(area.value); } catch (e) { toast(`Search space is not JSON: ${(e as Error).message}`, 'error'); return; }
        try {
          await postJson('experiment', { searchSpace: parsed });
          toast('Search space updated');
          lastConfig = '';
          live.refresh();
        } catch (error) { reportError(error); }
      } }, 'Save'),
      h('button', { onclick: () => { lastConfig = ''; if (summary) render(summary); } }, 'Cancel')));
  }

  return {
    mount(el) {
      root = h('div', { class: 'page overview', 'data-testid': 'page-overview' },
        h('div', { class: 'row' },
          card('Experiment', { class: 'card wide', 'data-testid': 'panel-basic' }, basic),
          card('Duration', { 'data-testid': 'panel-duration' }, duration)),
        h('div', { class: 'row' },
          card('Trials', { class: 'card wide', 'data-testid': 'panel-trials' }, trialsBox),
          card('Limits', { 'data-testid': 'panel-limits' }, editors)),
        card('Top trials', { 'data-testid': 'panel-top' }, topControls, topChart, topTable),
        importedCard,
        h('div', { class: 'row' },
          card('Configuration', { class: 'card half', 'data-testid': 'panel-config' },
            tabs([{ id: 'config', label: 'Config' }, { id: 'space', label: 'Search space' }], configTab,
              (id) => { configTab = id; if (summary) renderConfig(summary); }, 'config-tabs'), configBody),
          card('Logs', { class: 'card half', 'data-testid': 'panel-logs' }, logSelect, logBody)));
      el.appendChild(root);
      unsub = live.onSummary((s) => {
        const first = summary === null;
        render(s);
        if (first) loadTop.request(); else topLater();
      });
      loadLogs.request();
      loadImported.request();
    },
    unmount() {
      unsub?.();
      pareto?.dispose();
      dispose(topChart);
      root.remove();
    },
  };
}
