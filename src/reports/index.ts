// Figures: Vega-Lite specs rendered to SVG and PNG, kernel density estimates. Imports only
// src/serialization (atomic writes) and below.
export * from './figures.js';
export { scottBandwidth, gaussianKde } from './kde.js';
