// The experiment's objectives as the server reads them (nni/server/webui_pareto.py), and the
// geometry of a two-objective front: the staircase bounding what it dominates.
import type { Json, Mode } from './types';

export interface ObjectiveInfo { metric: string; mode: Mode; }
export interface ConstraintInfo { metric: string; min: number | null; max: number | null; }

export type PointKind = 'front' | 'dominated' | 'infeasible';
/** One trial: [trialId, sequenceId, kind, value of each objective in order]. */
export type ParetoPoint = [string, number, PointKind, ...number[]];

export interface ParetoAnswer {
  revision: number;
  objectives: ObjectiveInfo[];
  constraints: ConstraintInfo[];
  counts: { results: number; usable: number; feasible: number; infeasible: number; front: number; unusable: number };
  points: ParetoPoint[];
  shown: number;
  hypervolume: { reference: number[] | null; points: [number, number][] };
}

/** The objectives a config names ([] when it names none: NNI's single default metric). */
export function objectivesOf(config: Record<string, Json>): ObjectiveInfo[] {
  const list = config.objectives;
  if (!Array.isArray(list)) return [];
  return list.flatMap((o) => (o && typeof o === 'object' && !Array.isArray(o) && typeof o.metric === 'string'
    ? [{ metric: o.metric, mode: o.mode === 'minimize' ? 'minimize' : 'maximize' } as ObjectiveInfo] : []));
}

/** Whether the experiment reads results under objectives or constraints (the Pareto views show only then). */
export function hasObjectives(config: Record<string, Json>): boolean {
  return objectivesOf(config).length > 0 || (Array.isArray(config.constraints) && config.constraints.length > 0);
}

/**
 * The staircase through two-objective front points `[x, y]`: between neighbours it runs along the
 * worse value first, so the region under it is exactly what the front dominates (for any modes).
 */
export function staircase(front: [number, number][], modes: [Mode, Mode]): [number, number][] {
  const sign = modes.map((m) => (m === 'maximize' ? -1 : 1));
  const loss = front.map(([x, y]) => [x * sign[0], y * sign[1]]).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const steps: [number, number][] = [];
  loss.forEach(([a, b], i) => {
    if (i > 0) steps.push([a, loss[i - 1][1]]);
    steps.push([a, b]);
  });
  return steps.map(([a, b]) => [a * sign[0], b * sign[1]]);
}
