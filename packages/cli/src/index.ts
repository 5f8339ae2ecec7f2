export { runDemo } from './demo/index.js';
