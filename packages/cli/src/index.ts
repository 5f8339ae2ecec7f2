export { createDemoCa, readCsr, type DemoCa } from './demo-ca.js';
export { runDemo } from './demo.js';
