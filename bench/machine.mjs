#!/usr/bin/env node
/**
 * What can this machine do at most? The ceilings the engine benchmarks are read against:
 *
 *   peak      fp32 multiply-adds per second: each thread runs 12 independent chains of
 *             fused multiply-adds on the widest vectors the compiler targets here
 *             (-march=native), about 0.6 s;
 *   read      memory read bandwidth: each thread sums its share of a 256 MiB array,
 *             five times over (vectorised: -ffast-math lets the compiler reorder the sum).
 *
 * Both run with 1 thread and with one per CPU (`os.availableParallelism()`), as small C
 * programs compiled here with the system's `gcc` into a temporary folder. The ratio of the
 * two thread counts tells how far more threads can help compute-bound and memory-bound work.
 *
 *   node bench/machine.mjs
 *
 * Needs gcc (Debian: build-essential); without it the script says so and exits 1.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';

const PEAK = String.raw`
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#define CHAINS 12
#define ROUNDS 300000000L
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
typedef float v __attribute__((vector_size(64)));
static void *work(void *unused) {
  v acc[CHAINS];
  for (int c = 0; c < CHAINS; c++) for (int l = 0; l < 16; l++) acc[c][l] = 1.0f + c * 1e-7f;
  v scale, shift;
  for (int l = 0; l < 16; l++) { scale[l] = 0.999999f; shift[l] = 1e-7f; }
  for (long r = 0; r < ROUNDS / CHAINS; r++)
    for (int c = 0; c < CHAINS; c++) acc[c] = acc[c] * scale + shift;
  float sink = 0;
  for (int c = 0; c < CHAINS; c++) for (int l = 0; l < 16; l++) sink += acc[c][l];
  return (void *)(long)(sink > 0);
}
int main(int argc, char **argv) {
  int threads = atoi(argv[1]);
  pthread_t handles[256];
  double started = now();
  for (int t = 0; t < threads; t++) pthread_create(&handles[t], 0, work, 0);
  for (int t = 0; t < threads; t++) pthread_join(handles[t], 0);
  double seconds = now() - started;
  printf("%.1f\n", threads * (double)(ROUNDS / CHAINS) * CHAINS * 16 * 2 / seconds / 1e9);
  return 0;
}
`;

const READ = String.raw`
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#define FLOATS (64L * 1024 * 1024)
#define PASSES 5
static float *data;
static int threads;
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
static void *work(void *arg) {
  long index = (long)arg, share = FLOATS / threads;
  float sum = 0;
  for (int pass = 0; pass < PASSES; pass++)
    for (long i = index * share; i < (index + 1) * share; i++) sum += data[i];
  return (void *)(long)(sum > 0);
}
int main(int argc, char **argv) {
  threads = atoi(argv[1]);
  data = aligned_alloc(64, FLOATS * sizeof(float));
  for (long i = 0; i < FLOATS; i++) data[i] = (float)(i & 1023);
  pthread_t handles[256];
  double started = now();
  for (long t = 0; t < threads; t++) pthread_create(&handles[t], 0, work, (void *)t);
  for (int t = 0; t < threads; t++) pthread_join(handles[t], 0);
  double seconds = now() - started;
  printf("%.1f\n", (double)PASSES * FLOATS * sizeof(float) / seconds / 1e9);
  return 0;
}
`;

try {
  execFileSync('gcc', ['--version'], { stdio: 'ignore' });
} catch {
  console.error('bench/machine.mjs needs gcc (Debian: apt-get install build-essential)');
  process.exit(1);
}
const work = mkdtempSync(join(os.tmpdir(), 'talkies-bench-machine-'));
try {
  const build = (name, source, flags) => {
    const path = join(work, name);
    writeFileSync(`${path}.c`, source);
    execFileSync('gcc', ['-O3', '-march=native', '-funroll-all-loops', ...flags, '-pthread', `${path}.c`, '-o', path]);
    return path;
  };
  const peak = build('peak', PEAK, []);
  const read = build('read', READ, ['-ffast-math']);
  const all = os.availableParallelism();
  const counts = all > 1 ? [1, all] : [1];
  const run = (binary, threads) => Number(execFileSync(binary, [String(threads)], { encoding: 'utf8' }).trim());
  console.log(`machine   ${all} CPUs (${os.cpus()[0]?.model?.trim() ?? 'unknown CPU'}), ${Math.round(os.totalmem() / 2 ** 30)} GiB RAM, load average ${os.loadavg().map((value) => value.toFixed(2)).join(' ')}`);
  const rows = counts.map((threads) => ({ threads, peak: run(peak, threads), read: run(read, threads) }));
  console.log('threads   fp32 peak (GFLOP/s)   read bandwidth (GB/s)');
  for (const row of rows) console.log(`${String(row.threads).padStart(7)}   ${row.peak.toFixed(0).padStart(19)}   ${row.read.toFixed(1).padStart(21)}`);
  if (rows.length > 1) {
    const [one, many] = rows;
    console.log(`${many.threads} threads / 1: peak ${(many.peak / one.peak).toFixed(2)}×, read bandwidth ${(many.read / one.read).toFixed(2)}×`);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
