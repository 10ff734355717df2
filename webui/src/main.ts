// Entry point: the header, hash routing between the three pages, and live status.
import './style.css';
import { onError } from './api';
import { h, replace } from './dom';
import { live } from './live';
import { comparePage } from './pages/compare';
import { experimentsPage } from './pages/experiments';
import { overviewPage } from './pages/overview';
import { trialsPage } from './pages/trials';
import { badge, toast } from './ui';

export interface Page {
  mount(root: HTMLElement): void;
  unmount(): void;
}

const ROUTES: Record<string, { label: string; make: () => Page }> = {
  overview: { label: 'Overview', make: overviewPage },
  trials: { label: 'Trials detail', make: trialsPage },
  experiments: { label: 'All experiments', make: experimentsPage },
  compare: { label: 'Compare', make: comparePage },
};

// NNI's own page paths map onto ours so old bookmarks keep working.
const LEGACY: Record<string, string> = { oview: 'overview', detail: 'trials', experiment: 'experiments' };
// The workspace page (nnictl view --all) has no experiment of its own: only the pages across experiments.
const workspaceOnly = location.pathname.endsWith('/workspace');
const shownRoutes = Object.keys(ROUTES).filter((id) => !workspaceOnly || id === 'experiments' || id === 'compare');

function currentRoute(): string {
  const fromHash = location.hash.replace(/^#\/?/, '').split('?')[0];
  if (shownRoutes.includes(fromHash)) return fromHash;
  if (workspaceOnly) return 'experiments';
  const last = location.pathname.split('/').filter(Boolean).pop() ?? '';
  return LEGACY[last] ?? 'overview';
}

const app = document.getElementById('app')!;
const nav = h('nav', { class: 'nav' });
const title = h('span', { class: 'exp-title', 'data-testid': 'header-name' });
const status = h('span', { class: 'header-status' });
const liveDot = h('span', { class: 'live', title: 'Live updates' });
const content = h('main', { class: 'content' });
app.append(h('header', { class: 'top' }, h('span', { class: 'brand' }, 'NNI'), nav, title, status, liveDot), content);

onError((message) => toast(message, 'error'));

let page: Page | null = null;
function route(): void {
  const name = currentRoute();
  replace(nav, shownRoutes.map((id) =>
    h('a', { href: `#/${id}`, class: id === name ? 'active' : '', 'data-testid': `nav-${id}` }, ROUTES[id].label)));
  page?.unmount();
  content.replaceChildren();
  page = ROUTES[name].make();
  page.mount(content);
}

live.onSummary((s) => {
  const name = typeof s.config.experimentName === 'string' && s.config.experimentName ? s.config.experimentName : s.experimentId;
  title.textContent = name;
  document.title = `${name} · NNI`;
  replace(status, badge(s.status));
});
live.onConnection((up) => {
  liveDot.className = up ? 'live on' : 'live off';
  liveDot.textContent = up ? 'live' : 'reconnecting…';
});

window.addEventListener('hashchange', route);
route();
if (workspaceOnly) {
  liveDot.remove();
  title.textContent = 'All experiments';
  document.title = 'Experiments · NNI';
} else {
  live.start();
}
