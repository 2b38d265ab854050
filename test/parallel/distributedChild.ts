// One rank of distributed.test.ts: joins the group from torchrun's environment, runs
// each collective, and prints what it got as one JSON line. DIE=k: rank k leaves right after
// joining, so the others' next collective must fail instead of hanging.
import {
  initProcessGroup,
  allReduce,
  broadcast,
  allGather,
  barrier,
  destroyProcessGroup,
  getRank,
  getWorldSize,
  tensor,
  zeros,
} from '../../src/tensor/index.js';

initProcessGroup({ timeoutMs: Number(process.env.TIMEOUT_MS ?? 20000) });
const rank = getRank();
if (process.env.DIE !== undefined && rank === Number(process.env.DIE)) process.exit(0);
try {
  const sum = tensor([rank + 1, 10 * (rank + 1)]);
  allReduce(sum);
  const max = tensor([rank * 5]);
  allReduce(max, 'max');
  const b = rank === 0 ? tensor([7, 8, 9]) : zeros([3]);
  broadcast(b, 0);
  const gathered = allGather(tensor([rank, rank * rank]));
  barrier();
  console.log(
    JSON.stringify({
      rank,
      worldSize: getWorldSize(),
      sum: sum.toNumbers(),
      max: max.toNumbers(),
      broadcast: b.toNumbers(),
      gathered: gathered.map((t) => t.toNumbers()),
    }),
  );
  destroyProcessGroup();
} catch (e) {
  console.log(JSON.stringify({ rank, error: (e as Error).message }));
  process.exit(3);
}
