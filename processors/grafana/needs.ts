/**
 * The columns each kind of panel needs in its query's result, by Grafana's data requirements:
 * the Node Graph's data API (a "nodes" frame with id, optional title, subtitle, mainstat,
 * secondarystat, arc__* and color; an "edges" frame with id, source, target), annotations (a time
 * and a text column), the traces panel (the trace view's span fields), the logs panel (a time and
 * a body). Tables and stats need what each query names.
 */
export const PANEL_NEEDS: Record<string, (refId: string) => readonly string[]> = {
  nodeGraph: (refId) =>
    refId === 'nodes'
      ? ['id', 'title', 'mainstat', 'secondarystat', 'arc__errors', 'arc__ok', 'color']
      : ['id', 'source', 'target', 'mainstat', 'secondarystat'],
  annotation: () => ['time', 'text'],
  timeseries: () => ['time'],
  traces: () => ['traceID', 'spanID', 'parentSpanID', 'serviceName', 'operationName', 'startTime', 'duration'],
  logs: () => ['timestamp', 'body'],
};
