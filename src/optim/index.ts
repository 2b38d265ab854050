export * from './optimizer.js';
export * from './schedules.js';
