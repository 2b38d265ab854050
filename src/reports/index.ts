// Figures (Vega-Lite specs rendered to SVG and PNG, kernel density estimates) and the binomial
// intervals reports put next to rates, images (and perturbations) as PNG. Imports only src/serialization (atomic writes) and below.
export * from './figureFiles.js';
export { scottBandwidth, gaussianKde } from './kde.js';
export { wilson, rateDifference } from './intervals.js';
export { imagePng, perturbationPng } from './images.js';
