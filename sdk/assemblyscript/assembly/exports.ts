// The ABI v1 exports (abi/ABI.md 2). A job module re-exports them from its
// entry file:  export * from "wmr-sdk/assembly/exports";

import { ABI_VERSION, runtime } from "./index";

export function wmr_abi_version(): i32 {
  return ABI_VERSION;
}

export function wmr_alloc(size: i32): usize {
  return runtime.alloc(size);
}

export function wmr_init(ptr: usize, len: i32): i32 {
  return runtime.init(ptr, len);
}

export function wmr_map(ptr: usize, len: i32): i32 {
  return runtime.map(ptr, len);
}

export function wmr_reduce(ptr: usize, len: i32): i32 {
  return runtime.reduce(ptr, len, false);
}

export function wmr_combine(ptr: usize, len: i32): i32 {
  return runtime.reduce(ptr, len, true);
}

export function wmr_finish(): i32 {
  return runtime.endTask();
}

export function wmr_partition(ptr: usize, len: i32, numPartitions: i32): i32 {
  return runtime.partition(ptr, len, numPartitions);
}
