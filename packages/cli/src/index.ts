export { runDemo } from './demo.js';
export { createDemoCa, type DemoCa, readCsr } from './demo-ca.js';
