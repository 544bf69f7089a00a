#include "go_asm.h"
#include "textflag.h"

// func emitCounted(e *Emitter, key, value []byte)
//
// Emit's fast path for a combine table with Sum: emitPair's checks (wmr.go)
// and the lookup of combineTable.entry (combine.go: keyWords, keyHash, the
// probe), in WebAssembly's own structured control flow, for a key already
// in the table. Anything else, a new key included, is handed to emitPair
// with the arguments as they are (JMP: call, then return its result).
//
// R0 table, R1 key base, R2 key length, R3 the digit, R4 k0, R5 k1,
// R6 hash/slot index, R7 entry address, R8 mask, R9 base.
TEXT ·emitCounted(SB), NOSPLIT, $0-56
	Block
		// t := e.table; t != nil && t.sum
		MOVD e+0(FP), R0
		MOVD Emitter_table(R0), R0
		Get R0
		I64Eqz
		BrIf $0
		Get R0
		I32WrapI64
		I32Load8U $combineTable_sum
		I32Eqz
		BrIf $0

		// len(value) == 1 && value[0]-'0' <= 9
		MOVD value_len+40(FP), R3
		Get R3
		I64Const $1
		I64Ne
		BrIf $0
		MOVD value_base+32(FP), R3
		Get R3
		I32WrapI64
		I64Load8U $0
		I64Const $48
		I64Sub
		Tee R3
		I64Const $9
		I64GtU
		BrIf $0

		// n := len(key) <= 16
		MOVD key_len+16(FP), R2
		Get R2
		I64Const $16
		I64GtU
		BrIf $0

		// 16 bytes readable from the key: cap(key) >= 16, or it lies in
		// the input buffer with 16 bytes to go (keyWords).
		MOVD key_base+8(FP), R1
		MOVD key_cap+24(FP), R4
		Get R4
		I64Const $16
		I64LtU
		If
			Get R1
			MOVD $·batchLo(SB), R5
			MOVD 0(R5), R5
			Get R5
			I64Sub
			MOVD $·batchReach(SB), R5
			MOVD 0(R5), R5
			Get R5
			I64GeU
			BrIf $1
		End

		// k0, k1: the key's first 16 bytes, zero-padded.
		Get R1
		I32WrapI64
		I64Load $0
		Get R2
		I64Const $8
		I64GeU
		If $2 // (result i64): the mask of k0
			I64Const $-1
		Else
			I64Const $1
			Get R2
			I64Const $3
			I64Shl
			I64Shl
			I64Const $1
			I64Sub
		End
		I64And
		Set R4

		Get R1
		I32WrapI64
		I64Load $8
		Get R2
		I64Const $8
		I64GtU
		If $2 // (result i64): the mask of k1
			I64Const $-1
			I64Const $128
			Get R2
			I64Const $3
			I64Shl
			I64Sub
			I64ShrU
		Else
			I64Const $0
		End
		I64And
		Set R5

		// keyHash
		Get R4
		Get R2
		I64Xor
		I64Const $0x9e3779b97f4a7c15
		I64Mul
		Get R5
		I64Const $0x94d049bb133111eb
		I64Add
		I64Const $0xbf58476d1ce4e5b9
		I64Mul
		I64Xor
		Tee R6
		Get R6
		I64Const $32
		I64ShrU
		I64Xor
		I64Const $0xd6e8feb86659fd93
		I64Mul
		Tee R6
		Get R6
		I64Const $32
		I64ShrU
		I64Xor
		Set R6

		MOVD combineTable_mask(R0), R8
		MOVD combineTable_base(R0), R9
		Get R2
		I64Const $1
		I64Add
		Set R2 // n + 1, an entry's used

		Loop
			// en := base + (i & mask) * size
			Get R9
			Get R6
			Get R8
			I64And
			I64Const $combineEntry__size
			I64Mul
			I64Add
			Tee R7
			I32WrapI64
			I64Load $combineEntry_k0
			Get R4
			I64Xor
			Get R7
			I32WrapI64
			I64Load $combineEntry_k1
			Get R5
			I64Xor
			I64Or
			Get R7
			I32WrapI64
			I64Load32U $combineEntry_used
			Get R2
			I64Xor
			I64Or
			I64Eqz
			If
				// en.sum += digit
				Get R7
				I32WrapI64
				Get R7
				I32WrapI64
				I64Load $combineEntry_sum
				Get R3
				I64Add
				I64Store $combineEntry_sum
				RET
			End
			// An empty slot: the key is new; emitPair adds it.
			Get R7
			I32WrapI64
			I32Load $combineEntry_used
			I32Eqz
			BrIf $1
			Get R6
			I64Const $1
			I64Add
			Set R6
			Br $0
		End
	End
	// handedOver++ (emit_wasm.go)
	MOVD $·handedOver(SB), R0
	MOVD 0(R0), R1
	Get R1
	I64Const $1
	I64Add
	Set R1
	MOVD R1, 0(R0)
	JMP ·emitPair(SB)
