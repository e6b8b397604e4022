// Only for processors/runtime/store/rowbinary.test.ts, which is being changed on another branch:
// remove this file once that import reads '../../servicegraph/sink.js'.
export { edgeRow } from './sink.js';
