// Shapes of the server's answers (nni/server/webui.py).

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export interface Summary {
  experimentId: string;
  revision: number;
  status: string;
  error: string | null;
  profile: Record<string, Json>;
  config: Record<string, Json>;
  statistics: Record<string, number>;
  counts: Record<string, number>;
  trialCount: number;
  optimizeMode: 'maximize' | 'minimize';
  metricKeys: string[];
  paramKeys: string[];
  best: { trialId: string; sequenceId: number; value: number } | null;
  serverTime: number;
}

export interface ImportedRow {
  parameter: Json;
  value: Json;
  source: string;
  imported: true;
  timestamp: number;
}

export interface TrialRow {
  trialId: string;
  sequenceId: number;
  status: string;
  customized: boolean;
  submitTime: number;
  startTime: number | null;
  endTime: number | null;
  duration: number | null;
  parameters: Record<string, Json>;
  final: Json;
  hasFinal: boolean;
  latest: Json;
  intermediateCount: number;
  message: string | null;
  /** Only when the experiment has objectives or constraints: null when the result is unusable. */
  feasible?: boolean | null;
  pareto?: boolean;
}

export interface TrialPage {
  revision: number;
  total: number;
  totalAll: number;
  offset: number;
  limit: number;
  rows: TrialRow[];
}

export interface TrialDetail extends TrialRow {
  parameterRecord: Record<string, Json>;
  logPath: string | null;
  host: string | null;
  gpus: number[];
  exitCode: number | null;
  finalMetric: { timestamp: number; value: Json } | null;
  intermediate: { sequence: number; timestamp: number; value: Json }[];
  files: string[];
}

export interface ExperimentRow {
  id: string;
  experimentName: string | null;
  status: string | null;
  port: number | null;
  platform: string | null;
  startTime: number | null;
  endTime: number | null;
  logDir: string | null;
  alive: boolean;
  current: boolean;
}

export interface ParamColumn {
  name: string;
  type: 'numeric' | 'categorical';
  log?: boolean;
  categories?: string[];
  values: (number | string | null)[];
}

export interface ParamTable {
  key: string;
  total: number;
  shown: number;
  trialIds: string[];
  sequenceIds: number[];
  metric: number[];
  columns: ParamColumn[];
}

export interface ConfigDifference {
  path: string;
  values: Record<string, Json>;
  missing: string[];
}

export interface ComparedExperiment {
  id: string;
  name: string;
  status: string;
  live: boolean;
  optimizeMode: Mode;
  trialCount: number;
  succeeded: number;
  best: number | null;
  curve: [number, number, string][];
  front: [number, number, string, number][] | null;
}

export interface Comparison {
  key: string;
  metricKeys: string[];
  front: { keys: [string, string]; modes: [Mode, Mode] } | null;
  experiments: ComparedExperiment[];
  config: ConfigDifference[];
  searchSpace: ConfigDifference[];
}

export type Mode = 'maximize' | 'minimize';
