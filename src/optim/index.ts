export * from './optimizer.js';
export * from './schedules.js';
export * from './gradScaler.js';
