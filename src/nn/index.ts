export { Module, type StateDict } from './module.js';
export * from './layers.js';
export * as F from './functional.js';
export * as init from './init.js';
