// Neural-network building blocks: Module (parameters, buffers, PyTorch state-dict keys,
// train/eval, in-place device moves, withEval), the layers and the functional ops. Imports
// only src/tensor.
/**
 * `sauron/nn`: neural-network building blocks with PyTorch's names, parameter names and default
 * initialisations: {@link Module}, the layers ({@link Conv2d}, {@link Linear}, {@link BatchNorm2d},
 * ...), the functional ops ({@link F}), the initialisations ({@link init}), and {@link LocalForward},
 * a forward that reruns only what a small change of its input reaches (Square's later queries).
 *
 * @example
 * ```ts
 * import { Sequential, Conv2d, ReLU, Flatten, Linear, F } from 'sauron/nn';
 * const net = new Sequential(new Conv2d(1, 8, 3), new ReLU(), new Flatten(), new Linear(8 * 26 * 26, 10));
 * const loss = F.crossEntropy(net.forward(images), labels); // images [N, 1, 28, 28], labels [N] int64
 * ```
 * @module sauron/nn
 */
export { Module, withEval, type AnyModule, type StateDict } from './module.js';
export * from './layers.js';
export { LocalForward, type LocalPlan } from './localForward.js';
export { convStackAvailable, setConvStackEnabled, stackPartOf, type StackLayer, type StackPart } from './convStack.js';
/** The functional ops (torch.nn.functional): convolution, pooling, activations, losses. */
export * as F from './functional.js';
/** PyTorch's weight initialisations (torch.nn.init), drawn from an explicit generator. */
export * as init from './init.js';
