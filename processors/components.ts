// Every component AirDig ships, listed once. A factory is registered here and nowhere else.
// Each is named by kind and type and its module imported only when a process builds (or a config
// names) a component of that type: `--only otlp` loads neither the AWS SDK nor the graph API.
import type { ComponentKind, Factory } from './runtime/pipeline/component.js';
import { FactoryRegistry, type LazyFactory } from './runtime/pipeline/registry.js';

const lazy = (kind: ComponentKind, type: string, load: () => Promise<Factory<any>>): LazyFactory => ({ kind, type, load });

export function defaultRegistry(): FactoryRegistry {
  return new FactoryRegistry([
    lazy('sink', 'dead_letters', async () => (await import('./deadletters/sink.js')).deadLettersFactory),
    lazy('receiver', 'otlp', async () => (await import('./otlp/receiver.js')).otlpFactory),
    lazy('sink', 'otel_traces', async () => (await import('./oteltraces/sink.js')).otelTracesFactory),
    lazy('sink', 'otel_logs', async () => (await import('./otellogs/sink.js')).otelLogsFactory),
    lazy('processor', 'servicegraph', async () => (await import('./servicegraph/processor.js')).serviceGraphFactory),
    lazy('sink', 'service_edges', async () => (await import('./servicegraph/sink.js')).serviceEdgesFactory),
    lazy('processor', 'placement', async () => (await import('./placement/processor.js')).placementFactory),
    lazy('sink', 'graph_nodes', async () => (await import('./graph/sink.js')).graphNodesFactory),
    lazy('sink', 'graph_edges', async () => (await import('./graph/sink.js')).graphEdgesFactory),
    lazy('sink', 'resource_aliases', async () => (await import('./graph/sink.js')).resourceAliasesFactory),
    lazy('receiver', 'remote_write', async () => (await import('./remotewrite/receiver.js')).remoteWriteFactory),
    lazy('sink', 'prometheus_samples', async () => (await import('./remotewrite/sink.js')).promSamplesFactory),
    lazy('sink', 'otlp_metrics', async () => (await import('./otlpmetrics/sink.js')).otlpMetricsFactory),
    lazy('processor', 'health', async () => (await import('./health/processor.js')).healthFactory),
    lazy('sink', 'health_facts', async () => (await import('./health/sink.js')).healthFactsFactory),
    lazy('processor', 'edge_signals', async () => (await import('./edgesignals/processor.js')).edgeSignalsFactory),
    lazy('sink', 'runtime_events', async () => (await import('./falco/sink.js')).runtimeEventsFactory),
    lazy('processor', 'changes', async () => (await import('./cloudtrail/processor.js')).changesFactory),
    lazy('sink', 'change_events', async () => (await import('./cloudtrail/sink.js')).changeEventsFactory),
    lazy('processor', 'topology', async () => (await import('./topology/processor.js')).topologyFactory),
    lazy('processor', 'drift', async () => (await import('./drift/processor.js')).driftFactory),
    lazy('sink', 'drift_events', async () => (await import('./drift/sink.js')).driftEventsFactory),
    lazy('receiver', 'cloudtrail_lookup', async () => (await import('./cloudtrail/lookup.js')).cloudtrailLookupFactory),
    lazy('receiver', 'falco', async () => (await import('./falco/receiver.js')).falcoReceiverFactory),
    lazy('receiver', 'cloudtrail', async () => (await import('./cloudtrail/receiver.js')).cloudTrailReceiverFactory),
    lazy('receiver', 'resources', async () => (await import('./inventory/receiver.js')).resourcesReceiverFactory),
    lazy('receiver', 'terraform_state', async () => (await import('./inventory/receiver.js')).terraformReceiverFactory),
    lazy('processor', 'engine', async () => (await import('./engine/processor.js')).engineFactory),
    lazy('sink', 'correlations', async () => (await import('./engine/sink.js')).correlationsFactory),
    lazy('sink', 'incidents', async () => (await import('./engine/sink.js')).incidentsFactory),
    lazy('receiver', 'changes_api', async () => (await import('./changeapi/receiver.js')).changesApiFactory),
    lazy('processor', 'deploys', async () => (await import('./deploys/processor.js')).deploysFactory),
    lazy('sink', 'notifications', async () => (await import('./notify/sink.js')).notificationsFactory),
    lazy('sink', 'api', async () => (await import('./api/sink.js')).apiFactory),
  ]);
}
