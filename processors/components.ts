// Every component AirDig ships, listed once. A factory is registered here and nowhere else.
import { FactoryRegistry } from './runtime/pipeline/registry.js';
import { deadLettersFactory } from './deadletters/sink.js';
import { otlpFactory } from './otlp/receiver.js';
import { otelTracesFactory } from './oteltraces/sink.js';
import { otelLogsFactory } from './otellogs/sink.js';
import { serviceGraphFactory } from './servicegraph/processor.js';
import { serviceEdgesFactory } from './servicegraph/sink.js';
import { placementFactory } from './placement/processor.js';
import { remoteWriteFactory } from './remotewrite/receiver.js';
import { promSamplesFactory } from './remotewrite/sink.js';
import { otlpMetricsFactory } from './otlpmetrics/sink.js';
import { healthFactory } from './health/processor.js';
import { healthFactsFactory } from './health/sink.js';
import { edgeSignalsFactory } from './edgesignals/processor.js';
import { graphEdgesFactory, graphNodesFactory, resourceAliasesFactory } from './graph/sink.js';
import { runtimeEventsFactory } from './falco/sink.js';
import { changesFactory } from './cloudtrail/processor.js';
import { changeEventsFactory } from './cloudtrail/sink.js';
import { topologyFactory } from './topology/processor.js';
import { cloudtrailLookupFactory } from './cloudtrail/lookup.js';
import { driftFactory } from './drift/processor.js';
import { driftEventsFactory } from './drift/sink.js';
import { falcoReceiverFactory } from './falco/receiver.js';
import { cloudTrailReceiverFactory } from './cloudtrail/receiver.js';
import { resourcesReceiverFactory, terraformReceiverFactory } from './inventory/receiver.js';
import { engineFactory } from './engine/processor.js';
import { correlationsFactory, incidentsFactory } from './engine/sink.js';
import { changesApiFactory } from './changeapi/receiver.js';
import { deploysFactory } from './deploys/processor.js';
import { notificationsFactory } from './notify/sink.js';
import { apiFactory } from './api/sink.js';

export function defaultRegistry(): FactoryRegistry {
  return new FactoryRegistry([
    deadLettersFactory,
    otlpFactory,
    otelTracesFactory,
    otelLogsFactory,
    serviceGraphFactory,
    serviceEdgesFactory,
    placementFactory,
    graphNodesFactory,
    graphEdgesFactory,
    resourceAliasesFactory,
    remoteWriteFactory,
    promSamplesFactory,
    otlpMetricsFactory,
    healthFactory,
    healthFactsFactory,
    edgeSignalsFactory,
    runtimeEventsFactory,
    changesFactory,
    changeEventsFactory,
    topologyFactory,
    driftFactory,
    driftEventsFactory,
    cloudtrailLookupFactory,
    falcoReceiverFactory,
    cloudTrailReceiverFactory,
    resourcesReceiverFactory,
    terraformReceiverFactory,
    engineFactory,
    correlationsFactory,
    incidentsFactory,
    changesApiFactory,
    deploysFactory,
    notificationsFactory,
    apiFactory,
  ]);
}
