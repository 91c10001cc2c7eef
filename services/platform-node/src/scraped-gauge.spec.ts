import { describe, expect, it } from "vitest";
import { renderMetrics } from "./metrics.js";
import { scrapedGauge, scrapedLabelledGauge } from "./scraped-gauge.js";

const valueOf = (text: string, name: string) => Number(text.split("\n").find((l) => l.startsWith(name + " "))?.slice(name.length + 1));

describe("a gauge read when scraped", () => {
  it("asks its sources once for a burst of scrapes, sums them, and asks again once the reading is old", async () => {
    const gauge = scrapedGauge({ name: "test_scraped_gauge", help: "test", maxAgeMs: 200 });
    let reads = 0;
    const stopA = gauge.addSource(async () => (reads++, 3));
    gauge.addSource(async () => 4);

    const burst = await Promise.all(Array.from({ length: 20 }, () => renderMetrics()));
    expect(burst.map((m) => valueOf(m.body, "test_scraped_gauge"))).toEqual(Array(20).fill(7));
    expect(reads).toBe(1);

    await new Promise((r) => setTimeout(r, 250));
    expect(valueOf((await renderMetrics()).body, "test_scraped_gauge")).toBe(7);
    expect(reads).toBe(2);

    stopA(); // a removed source is not asked again, nor counted
    expect(valueOf((await renderMetrics()).body, "test_scraped_gauge")).toBe(4);
    expect(reads).toBe(2);
    expect(scrapedGauge({ name: "test_scraped_gauge", help: "test", maxAgeMs: 200 })).toBe(gauge);
  });

  it("with a label: sums the sources per label value, and drops a value no source reads any more", async () => {
    const gauge = scrapedLabelledGauge({ name: "test_scraped_labelled", help: "test", labelName: "namespace", maxAgeMs: 0 });
    let prod = 2;
    gauge.addSource(async () => new Map([["prod", prod], ["dev", 1]]));
    const stop = gauge.addSource(async () => new Map([["prod", 3]]));
    const line = async (label: string) => valueOf((await renderMetrics()).body, `test_scraped_labelled{namespace="${label}"}`);
    expect(await line("prod")).toBe(5);
    expect(await line("dev")).toBe(1);
    stop();
    prod = 0;
    expect(await line("prod")).toBe(0);
    expect((await renderMetrics()).body).toContain('test_scraped_labelled{namespace="dev"} 1');
  });

  it("does not hold a scrape for a slow source: NaN for that scrape, the late reading for the next ones", async () => {
    const gauge = scrapedGauge({ name: "test_scraped_slow", help: "test", maxAgeMs: 60_000, answerWithinMs: 50 });
    let answer: ((n: number) => void) | undefined;
    let reads = 0;
    gauge.addSource(() => (reads++, new Promise<number>((resolve) => (answer = resolve))));
    const started = Date.now();
    expect(valueOf((await renderMetrics()).body, "test_scraped_slow")).toBeNaN();
    expect(Date.now() - started).toBeLessThan(5_000); // not waiting for a source that never answers on its own
    expect(valueOf((await renderMetrics()).body, "test_scraped_slow")).toBeNaN(); // still reading: not asked twice
    expect(reads).toBe(1);
    answer!(9);
    expect(valueOf((await renderMetrics()).body, "test_scraped_slow")).toBe(9);
    expect(reads).toBe(1);
  });

  it("with a label, a slow reading shows the label values last seen as NaN, then the late reading", async () => {
    const gauge = scrapedLabelledGauge({ name: "test_scraped_labelled_slow", help: "test", labelName: "namespace", maxAgeMs: 0, answerWithinMs: 50 });
    let slow = false;
    let answer: ((m: Map<string, number>) => void) | undefined;
    gauge.addSource(() => (slow ? new Promise<Map<string, number>>((resolve) => (answer = resolve)) : Promise.resolve(new Map([["prod", 2]]))));
    const line = async () => (await renderMetrics()).body.split("\n").find((l) => l.startsWith("test_scraped_labelled_slow{"));
    expect(await line()).toBe('test_scraped_labelled_slow{namespace="prod"} 2');
    slow = true;
    expect(await line()).toMatch(/^test_scraped_labelled_slow\{namespace="prod"\} NaN$/i); // prom-client writes "Nan"
    answer!(new Map([["prod", 5]]));
    await new Promise((r) => setImmediate(r));
    slow = false; // maxAgeMs 0: the next scrape reads again, quickly
    expect(await line()).toBe('test_scraped_labelled_slow{namespace="prod"} 2');
  });
});
