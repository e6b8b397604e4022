import { busContract } from './contract.js';
import { KafkaBus } from './kafka.js';
import { kafkaBrokers } from '../../../tests/helpers/kafka.js';

busContract('kafka bus', async () => new KafkaBus({ brokers: kafkaBrokers(), clientId: 'airdig-test' }));
