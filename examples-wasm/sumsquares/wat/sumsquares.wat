;; sumsquares, written by hand in WebAssembly text against abi/ABI.md alone:
;; the proof that the ABI needs no SDK. Same job as sumsquares/go: every
;; line holds an integer (surrounding ASCII whitespace ignored, blank lines
;; skipped); output is the single line sum_of_squares<TAB>N. It declares a
;; combiner (the same sum as its reduce), so the reducer sees one partial
;; sum per map task.
;;
;; Memory map (one linear memory, grown by wmr_alloc):
;;   0      .. 4096     constants (data segments) and scratch
;;   4096   .. 69632    emit batch buffer (flushed past 60000 bytes)
;;   69632  .. 135168   next_values continuation buffer (64 KiB)
;;   196608 ..          the host's input region (wmr_alloc), grown on demand
(module
  (import "wmr" "emit" (func $emit (param i32 i32)))
  (import "wmr" "next_values" (func $next_values (param i32 i32) (result i32)))
  (import "wmr" "fail" (func $fail (param i32 i32)))

  (memory (export "memory") 4)

  ;; Constants.
  (data (i32.const 0) "sum_of_squares")                          ;; 14 bytes
  (data (i32.const 64) "line is not an integer")                  ;; 22
  (data (i32.const 128) "a value is not an integer")              ;; 25
  (data (i32.const 192) "reading the host's message: malformed msgpack") ;; 45
  (data (i32.const 256) "a value is longer than 64 KiB")          ;; 29

  (global $EMIT i32 (i32.const 4096))
  (global $EMIT_FLUSH i32 (i32.const 64096))
  (global $CONT i32 (i32.const 69632))
  (global $CONT_CAP i32 (i32.const 65536))
  (global $INPUT i32 (i32.const 196608))
  (global $SCRATCH i32 (i32.const 1024))

  ;; The msgpack reader: position, end, and a sticky error flag.
  (global $pos (mut i32) (i32.const 0))
  (global $end (mut i32) (i32.const 0))
  (global $bad (mut i32) (i32.const 0))
  ;; The last bytes read by $read_bytes.
  (global $bptr (mut i32) (i32.const 0))
  (global $blen (mut i32) (i32.const 0))
  ;; The emit buffer's write position and record count.
  (global $epos (mut i32) (i32.const 4101))
  (global $ecount (mut i32) (i32.const 0))
  ;; Whether the last $parse_int failed.
  (global $nan (mut i32) (i32.const 0))

  (func (export "wmr_abi_version") (result i32) (i32.const 1))

  ;; One input region at $INPUT, grown to the size asked for.
  (func (export "wmr_alloc") (param $size i32) (result i32)
    (local $need i32)
    ;; pages needed = ceil((INPUT + size) / 65536)
    (local.set $need (i32.shr_u (i32.add (i32.add (global.get $INPUT) (local.get $size)) (i32.const 65535)) (i32.const 16)))
    (if (i32.gt_u (local.get $need) (memory.size))
      (then
        (if (i32.eq (memory.grow (i32.sub (local.get $need) (memory.size))) (i32.const -1))
          (then (return (i32.const 0))))))
    (global.get $INPUT))

  ;; No parameters needed; declares the combiner (capability bit 0).
  (func (export "wmr_init") (param i32 i32) (result i32)
    (call $emit_reset)
    (i32.const 1))

  ;; ---- reading ----

  (func $byte (result i32)
    (if (i32.ge_u (global.get $pos) (global.get $end))
      (then (global.set $bad (i32.const 1)) (return (i32.const 0))))
    (global.set $pos (i32.add (global.get $pos) (i32.const 1)))
    (i32.load8_u (i32.sub (global.get $pos) (i32.const 1))))

  ;; $be reads an n-byte big-endian unsigned integer (n <= 4).
  (func $be (param $n i32) (result i32)
    (local $v i32)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $v (i32.or (i32.shl (local.get $v) (i32.const 8)) (call $byte)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $next)))
    (local.get $v))

  (func $read_array (result i32)
    (local $c i32)
    (local.set $c (call $byte))
    (if (i32.eq (i32.and (local.get $c) (i32.const 0xf0)) (i32.const 0x90))
      (then (return (i32.and (local.get $c) (i32.const 0x0f)))))
    (if (i32.eq (local.get $c) (i32.const 0xdc)) (then (return (call $be (i32.const 2)))))
    (if (i32.eq (local.get $c) (i32.const 0xdd)) (then (return (call $be (i32.const 4)))))
    (global.set $bad (i32.const 1))
    (i32.const 0))

  (func $read_bool (result i32)
    (local $c i32)
    (local.set $c (call $byte))
    (if (i32.eq (local.get $c) (i32.const 0xc3)) (then (return (i32.const 1))))
    (if (i32.ne (local.get $c) (i32.const 0xc2)) (then (global.set $bad (i32.const 1))))
    (i32.const 0))

  ;; $read_bytes reads bin8/16/32 or str (fixstr, str8/16/32) into $bptr/$blen.
  (func $read_bytes
    (local $c i32) (local $n i32)
    (local.set $c (call $byte))
    (block $len
      (if (i32.eq (i32.and (local.get $c) (i32.const 0xe0)) (i32.const 0xa0))
        (then (local.set $n (i32.and (local.get $c) (i32.const 0x1f))) (br $len)))
      (if (i32.or (i32.eq (local.get $c) (i32.const 0xc4)) (i32.eq (local.get $c) (i32.const 0xd9)))
        (then (local.set $n (call $be (i32.const 1))) (br $len)))
      (if (i32.or (i32.eq (local.get $c) (i32.const 0xc5)) (i32.eq (local.get $c) (i32.const 0xda)))
        (then (local.set $n (call $be (i32.const 2))) (br $len)))
      (if (i32.or (i32.eq (local.get $c) (i32.const 0xc6)) (i32.eq (local.get $c) (i32.const 0xdb)))
        (then (local.set $n (call $be (i32.const 4))) (br $len)))
      (global.set $bad (i32.const 1))
      (return))
    (if (i32.gt_u (local.get $n) (i32.sub (global.get $end) (global.get $pos)))
      (then (global.set $bad (i32.const 1)) (return)))
    (global.set $bptr (global.get $pos))
    (global.set $blen (local.get $n))
    (global.set $pos (i32.add (global.get $pos) (local.get $n))))

  ;; $parse_int parses [p, p+n) as a decimal int64 with an optional sign,
  ;; setting $nan on anything else (empty, stray bytes, overflow).
  (func $parse_int (param $p i32) (param $n i32) (result i64)
    (local $end i32) (local $neg i32) (local $u i64) (local $d i32)
    (global.set $nan (i32.const 0))
    (local.set $end (i32.add (local.get $p) (local.get $n)))
    (if (i32.eqz (local.get $n)) (then (global.set $nan (i32.const 1)) (return (i64.const 0))))
    (if (i32.or (i32.eq (i32.load8_u (local.get $p)) (i32.const 45)) (i32.eq (i32.load8_u (local.get $p)) (i32.const 43)))
      (then
        (local.set $neg (i32.eq (i32.load8_u (local.get $p)) (i32.const 45)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (if (i32.eq (local.get $p) (local.get $end))
          (then (global.set $nan (i32.const 1)) (return (i64.const 0))))))
    (block $done
      (loop $digit
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $d (i32.sub (i32.load8_u (local.get $p)) (i32.const 48)))
        (if (i32.gt_u (local.get $d) (i32.const 9))
          (then (global.set $nan (i32.const 1)) (return (i64.const 0))))
        ;; (2^64 - 1 - 9) / 10 = 1844674407370955160
        (if (i64.gt_u (local.get $u) (i64.const 1844674407370955160))
          (then (global.set $nan (i32.const 1)) (return (i64.const 0))))
        (local.set $u (i64.add (i64.mul (local.get $u) (i64.const 10)) (i64.extend_i32_u (local.get $d))))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $digit)))
    (if (local.get $neg)
      (then
        (if (i64.gt_u (local.get $u) (i64.const 0x8000000000000000))
          (then (global.set $nan (i32.const 1)) (return (i64.const 0))))
        (return (i64.sub (i64.const 0) (local.get $u)))))
    (if (i64.gt_u (local.get $u) (i64.const 0x7fffffffffffffff))
      (then (global.set $nan (i32.const 1)) (return (i64.const 0))))
    (local.get $u))

  ;; ---- writing ----

  (func $emit_reset
    (i32.store8 (global.get $EMIT) (i32.const 0xdd))
    (global.set $epos (i32.add (global.get $EMIT) (i32.const 5)))
    (global.set $ecount (i32.const 0)))

  (func $put (param $b i32)
    (i32.store8 (global.get $epos) (local.get $b))
    (global.set $epos (i32.add (global.get $epos) (i32.const 1))))

  (func $put_be32 (param $v i32) (param $at i32)
    (i32.store8 (local.get $at) (i32.shr_u (local.get $v) (i32.const 24)))
    (i32.store8 (i32.add (local.get $at) (i32.const 1)) (i32.shr_u (local.get $v) (i32.const 16)))
    (i32.store8 (i32.add (local.get $at) (i32.const 2)) (i32.shr_u (local.get $v) (i32.const 8)))
    (i32.store8 (i32.add (local.get $at) (i32.const 3)) (local.get $v)))

  (func $flush
    (if (i32.eqz (global.get $ecount)) (then (return)))
    (call $put_be32 (global.get $ecount) (i32.add (global.get $EMIT) (i32.const 1)))
    (call $emit (global.get $EMIT) (i32.sub (global.get $epos) (global.get $EMIT)))
    (call $emit_reset))

  ;; $emit_int appends the record [key, decimal(v)]; keys here are short
  ;; (the constant, or a key the host gave a combiner or reducer, < 256
  ;; bytes checked by the caller).
  (func $emit_int (param $kp i32) (param $kn i32) (param $v i64)
    (local $u i64) (local $i i32) (local $start i32)
    (if (i32.gt_u (i32.add (global.get $epos) (i32.add (local.get $kn) (i32.const 32))) (global.get $EMIT_FLUSH))
      (then (call $flush)))
    (call $put (i32.const 0x92))
    (call $put (i32.const 0xc4))
    (call $put (local.get $kn))
    (memory.copy (global.get $epos) (local.get $kp) (local.get $kn))
    (global.set $epos (i32.add (global.get $epos) (local.get $kn)))
    ;; Digits right to left into scratch [SCRATCH, SCRATCH+24).
    (local.set $u (local.get $v))
    (if (i64.lt_s (local.get $v) (i64.const 0)) (then (local.set $u (i64.sub (i64.const 0) (local.get $v)))))
    (local.set $i (i32.add (global.get $SCRATCH) (i32.const 24)))
    (loop $digit
      (local.set $i (i32.sub (local.get $i) (i32.const 1)))
      (i32.store8 (local.get $i) (i32.add (i32.const 48) (i32.wrap_i64 (i64.rem_u (local.get $u) (i64.const 10)))))
      (local.set $u (i64.div_u (local.get $u) (i64.const 10)))
      (br_if $digit (i64.ne (local.get $u) (i64.const 0))))
    (if (i64.lt_s (local.get $v) (i64.const 0))
      (then
        (local.set $i (i32.sub (local.get $i) (i32.const 1)))
        (i32.store8 (local.get $i) (i32.const 45))))
    (call $put (i32.const 0xc4))
    (call $put (i32.sub (i32.add (global.get $SCRATCH) (i32.const 24)) (local.get $i)))
    (memory.copy (global.get $epos) (local.get $i) (i32.sub (i32.add (global.get $SCRATCH) (i32.const 24)) (local.get $i)))
    (global.set $epos (i32.add (global.get $epos) (i32.sub (i32.add (global.get $SCRATCH) (i32.const 24)) (local.get $i))))
    (global.set $ecount (i32.add (global.get $ecount) (i32.const 1))))

  ;; $error reports message [p, p+n) for record idx through wmr.fail as the
  ;; msgpack [str8 message, int64 idx] and returns -1. Output of the
  ;; failing call is discarded by the host; drop ours too.
  (func $error (param $p i32) (param $n i32) (param $idx i32) (result i32)
    (local $at i32)
    (call $emit_reset)
    (local.set $at (i32.add (global.get $SCRATCH) (i32.const 64)))
    (i32.store8 (local.get $at) (i32.const 0x92))
    (i32.store8 (i32.add (local.get $at) (i32.const 1)) (i32.const 0xd9))
    (i32.store8 (i32.add (local.get $at) (i32.const 2)) (local.get $n))
    (memory.copy (i32.add (local.get $at) (i32.const 3)) (local.get $p) (local.get $n))
    ;; int32 d2 + big-endian index (-1 for none)
    (i32.store8 (i32.add (local.get $at) (i32.add (local.get $n) (i32.const 3))) (i32.const 0xd2))
    (call $put_be32 (local.get $idx) (i32.add (local.get $at) (i32.add (local.get $n) (i32.const 4))))
    (call $fail (local.get $at) (i32.add (local.get $n) (i32.const 8)))
    (i32.const -1))

  (func $is_space (param $c i32) (result i32)
    (i32.or (i32.eq (local.get $c) (i32.const 32))
      (i32.and (i32.ge_u (local.get $c) (i32.const 9)) (i32.le_u (local.get $c) (i32.const 13)))))

  ;; ---- map: each line's integer, squared, under "sum_of_squares" ----

  (func (export "wmr_map") (param $ptr i32) (param $len i32) (result i32)
    (local $n i32) (local $i i32) (local $p i32) (local $e i32) (local $v i64)
    (global.set $pos (local.get $ptr))
    (global.set $end (i32.add (local.get $ptr) (local.get $len)))
    (global.set $bad (i32.const 0))
    (local.set $n (call $read_array))
    (block $done
      (loop $record
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (if (i32.ne (call $read_array) (i32.const 2)) (then (global.set $bad (i32.const 1))))
        (call $read_bytes) ;; the key: the line's offset, unused
        (call $read_bytes) ;; the line
        (if (global.get $bad) (then (return (call $error (i32.const 192) (i32.const 45) (local.get $i)))))
        ;; Trim ASCII whitespace on both sides.
        (local.set $p (global.get $bptr))
        (local.set $e (i32.add (global.get $bptr) (global.get $blen)))
        (block $l (loop $trim_left
          (br_if $l (i32.ge_u (local.get $p) (local.get $e)))
          (br_if $l (i32.eqz (call $is_space (i32.load8_u (local.get $p)))))
          (local.set $p (i32.add (local.get $p) (i32.const 1)))
          (br $trim_left)))
        (block $r (loop $trim_right
          (br_if $r (i32.ge_u (local.get $p) (local.get $e)))
          (br_if $r (i32.eqz (call $is_space (i32.load8_u (i32.sub (local.get $e) (i32.const 1))))))
          (local.set $e (i32.sub (local.get $e) (i32.const 1)))
          (br $trim_right)))
        (if (i32.lt_u (local.get $p) (local.get $e))
          (then
            (local.set $v (call $parse_int (local.get $p) (i32.sub (local.get $e) (local.get $p))))
            (if (global.get $nan) (then (return (call $error (i32.const 64) (i32.const 22) (local.get $i)))))
            (call $emit_int (i32.const 0) (i32.const 14) (i64.mul (local.get $v) (local.get $v)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $record)))
    (if (i32.or (global.get $bad) (i32.ne (global.get $pos) (global.get $end)))
      (then (return (call $error (i32.const 192) (i32.const 45) (i32.const -1)))))
    (call $flush)
    (i32.const 0))

  ;; ---- reduce and combine: the sum of each key's values ----

  ;; $sum_values adds the next n values at the reader's position.
  (func $sum_values (param $n i32) (param $idx i32) (result i64)
    (local $s i64) (local $v i64)
    (block $done
      (loop $value
        (br_if $done (i32.eqz (local.get $n)))
        (call $read_bytes)
        (br_if $done (global.get $bad))
        (local.set $v (call $parse_int (global.get $bptr) (global.get $blen)))
        (if (global.get $nan) (then (global.set $bad (i32.const 2)) (br $done)))
        (local.set $s (i64.add (local.get $s) (local.get $v)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $value)))
    (local.get $s))

  (func $sum_groups (param $ptr i32) (param $len i32) (result i32)
    (local $n i32) (local $i i32) (local $kp i32) (local $kn i32) (local $more i32)
    (local $sum i64) (local $got i32) (local $save_pos i32) (local $save_end i32)
    (global.set $pos (local.get $ptr))
    (global.set $end (i32.add (local.get $ptr) (local.get $len)))
    (global.set $bad (i32.const 0))
    (local.set $n (call $read_array))
    (block $done
      (loop $group
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (if (i32.ne (call $read_array) (i32.const 3)) (then (global.set $bad (i32.const 1))))
        (call $read_bytes)
        (local.set $kp (global.get $bptr))
        (local.set $kn (global.get $blen))
        (local.set $more (call $read_bool))
        (local.set $sum (call $sum_values (call $read_array) (local.get $i)))
        ;; A continuing group (only ever the last): pull its values with
        ;; next_values into the continuation buffer until it says done.
        (block $pulled
          (loop $pull
            (br_if $pulled (i32.or (global.get $bad) (i32.eqz (local.get $more))))
            (local.set $got (call $next_values (global.get $CONT) (global.get $CONT_CAP)))
            (br_if $pulled (i32.eqz (local.get $got)))
            (if (i32.lt_s (local.get $got) (i32.const 0))
              (then (return (call $error (i32.const 256) (i32.const 29) (local.get $i)))))
            (local.set $save_pos (global.get $pos))
            (local.set $save_end (global.get $end))
            (global.set $pos (global.get $CONT))
            (global.set $end (i32.add (global.get $CONT) (local.get $got)))
            (if (i32.ne (call $read_array) (i32.const 2)) (then (global.set $bad (i32.const 1))))
            (local.set $more (call $read_bool))
            (local.set $sum (i64.add (local.get $sum) (call $sum_values (call $read_array) (local.get $i))))
            (if (i32.and (i32.eqz (global.get $bad)) (i32.ne (global.get $pos) (global.get $end)))
              (then (global.set $bad (i32.const 1))))
            (global.set $pos (local.get $save_pos))
            (global.set $end (local.get $save_end))
            (br $pull)))
        (if (i32.eq (global.get $bad) (i32.const 2))
          (then (return (call $error (i32.const 128) (i32.const 25) (local.get $i)))))
        (if (i32.or (global.get $bad) (i32.gt_u (local.get $kn) (i32.const 255)))
          (then (return (call $error (i32.const 192) (i32.const 45) (local.get $i)))))
        (call $emit_int (local.get $kp) (local.get $kn) (local.get $sum))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $group)))
    (if (i32.or (global.get $bad) (i32.ne (global.get $pos) (global.get $end)))
      (then (return (call $error (i32.const 192) (i32.const 45) (i32.const -1)))))
    (call $flush)
    (i32.const 0))

  (func (export "wmr_reduce") (param i32 i32) (result i32)
    (call $sum_groups (local.get 0) (local.get 1)))

  (func (export "wmr_combine") (param i32 i32) (result i32)
    (call $sum_groups (local.get 0) (local.get 1)))
)
