// The live feed: one EventSource on the server's change stream, and the experiment summary that
// is reloaded (single-flight) whenever something changed.
import { SingleFlight, eventsUrl, getJson } from './api';
import type { Summary } from './types';

export interface ChangeEvent {
  seq: number;
  kinds: string[];
  trials: string[];
  more: boolean;
}

type Listener<T> = (value: T) => void;

class Live {
  summary: Summary | null = null;
  lastSeq = 0;
  connected = false;
  private summaryListeners = new Set<Listener<Summary>>();
  private changeListeners = new Set<Listener<ChangeEvent>>();
  private stateListeners = new Set<Listener<boolean>>();
  private source: EventSource | null = null;
  private loader = new SingleFlight(async () => {
    const summary = await getJson<Summary>('summary');
    this.summary = summary;
    for (const fn of this.summaryListeners) fn(summary);
  });

  start(): void {
    this.refresh();
    this.source = new EventSource(eventsUrl());
    let connectedBefore = false;
    this.source.addEventListener('hello', (e) => {
      this.lastSeq = JSON.parse((e as MessageEvent).data).seq;
      this.setConnected(true);
      // Reconnected after a gap: what was missed is unknown, so reload everything shown. (The
      // first connection needs nothing: the pages are loading already.)
      if (connectedBefore) this.emit({ seq: this.lastSeq, kinds: ['experiment', 'trial', 'metric'], trials: [], more: true });
      connectedBefore = true;
    });
    this.source.addEventListener('change', (e) => {
      const change = JSON.parse((e as MessageEvent).data) as ChangeEvent;
      this.lastSeq = change.seq;
      this.emit(change);
    });
    this.source.addEventListener('error', () => this.setConnected(false));
  }

  refresh(): void { this.loader.request(); }

  private emit(change: ChangeEvent): void {
    this.refresh();
    for (const fn of this.changeListeners) fn(change);
  }

  private setConnected(value: boolean): void {
    this.connected = value;
    for (const fn of this.stateListeners) fn(value);
  }

  onSummary(fn: Listener<Summary>): () => void {
    this.summaryListeners.add(fn);
    if (this.summary) fn(this.summary);
    return () => this.summaryListeners.delete(fn);
  }

  onChange(fn: Listener<ChangeEvent>): () => void {
    this.changeListeners.add(fn);
    return () => this.changeListeners.delete(fn);
  }

  onConnection(fn: Listener<boolean>): () => void {
    this.stateListeners.add(fn);
    fn(this.connected);
    return () => this.stateListeners.delete(fn);
  }
}

export const live = new Live();
