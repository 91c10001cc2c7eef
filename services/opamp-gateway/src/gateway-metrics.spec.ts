import { describe, expect, it } from "vitest";
import { Counter, Registry } from "prom-client";
import { Tally } from "./gateway-metrics.js";

describe("Tally", () => {
  it("hands what was counted to the counter when it is read, and counts nothing twice", async () => {
    const registry = new Registry();
    const tallies: Tally[] = [];
    const counter = new Counter({ name: "t_total", help: "t", labelNames: ["k"], registers: [registry], collect: () => tallies.forEach((t) => t.settle()) });
    const a = new Tally(counter.labels("a"));
    const b = new Tally(counter.labels("b"));
    tallies.push(a, b);
    a.inc();
    a.inc(41);
    b.inc(2);
    const read = async () => Object.fromEntries((await counter.get()).values.map((v) => [v.labels.k, v.value]));
    expect(await read()).toEqual({ a: 42, b: 2 });
    expect(await read()).toEqual({ a: 42, b: 2 });
    a.inc(8);
    expect(await read()).toEqual({ a: 50, b: 2 });
  });
});
