#include "textflag.h"

// ASCII letters among 8 bytes, as letters8 (text.go) computes them.
#define ONES_80 $0x8080808080808080
#define ONES_20 $0x2020202020202020
#define ONES_1F $0x1f1f1f1f1f1f1f1f // (0x80 - 'a') per byte
#define ONES_05 $0x0505050505050505 // (0x80 - 'z' - 1) per byte

// LOAD8 sets R4 to the 8 bytes of the line from R1 (i), zero past n (R2):
// one load where 8 bytes may be read (R3, readable), else byte by byte.
// Uses R8.
#define LOAD8 \
	Get R1 \
	I64Const $8 \
	I64Add \
	Get R3 \
	I64LeU \
	If \
		Get R0 \
		Get R1 \
		I64Add \
		I32WrapI64 \
		I64Load $0 \
		Set R4 \
	Else \
		I64Const $0 \
		Set R4 \
		Get R2 \
		Get R1 \
		I64Const $8 \
		I64Add \
		Get R2 \
		Get R1 \
		I64Const $8 \
		I64Add \
		I64LtU \
		Select \
		Set R8 \
		Block \
			Loop \
				Get R8 \
				Get R1 \
				I64LeU \
				BrIf $1 \
				Get R8 \
				I64Const $1 \
				I64Sub \
				Set R8 \
				Get R4 \
				I64Const $8 \
				I64Shl \
				Get R0 \
				Get R8 \
				I64Add \
				I32WrapI64 \
				I64Load8U $0 \
				I64Or \
				Set R4 \
				Br $0 \
			End \
		End \
	End \
	Get R2 \
	Get R1 \
	I64Sub \
	I64Const $8 \
	I64LtU \
	If \
		Get R4 \
		I64Const $1 \
		Get R2 \
		Get R1 \
		I64Sub \
		I64Const $3 \
		I64Shl \
		I64Shl \
		I64Const $1 \
		I64Sub \
		I64And \
		Set R4 \
	End

// LETTERS sets R5 to the mask of ASCII letters in R4 (high bit per byte).
#define LETTERS \
	Get R4 \
	I64Const ONES_80 \
	I64Const $-1 \
	I64Xor \
	I64And \
	I64Const ONES_20 \
	I64Or \
	Tee R5 \
	I64Const ONES_1F \
	I64Add \
	Get R5 \
	I64Const ONES_05 \
	I64Add \
	I64Const $-1 \
	I64Xor \
	I64And \
	Get R4 \
	I64Const $-1 \
	I64Xor \
	I64And \
	I64Const ONES_80 \
	I64And \
	Set R5

// RESULT returns start | end<<32.
#define RESULT(start, end) \
	Get end \
	I64Const $32 \
	I64Shl \
	Get start \
	I64Or \
	Set R8 \
	MOVD R8, ret+16(FP)

// func asciiWord(at, bounds uint64) (word uint64)
//
// asciiWordGo with its arguments and results packed two to a word (at:
// p | i<<32; bounds: n | readable<<32; word: start | end<<32), which
// spares the caller and the callee three stores and three loads.
//
// R0 p, R1 i, R2 n, R3 readable, R4 8 bytes, R5 their letters, R6 the
// first letter or byte outside ASCII (then the end's offset), R7 start,
// R8 scratch, R9 the bytes before start.
TEXT ·asciiWord(SB), NOSPLIT, $0-24
	MOVD at+0(FP), R0
	Get R0
	I64Const $32
	I64ShrU
	Set R1
	Get R0
	I64Const $0xffffffff
	I64And
	Set R0
	MOVD bounds+8(FP), R2
	Get R2
	I64Const $32
	I64ShrU
	Set R3
	Get R2
	I64Const $0xffffffff
	I64And
	Set R2

	Block
		Loop
			// i >= n: the line's end
			Get R1
			Get R2
			I64GeU
			BrIf $1
			LOAD8
			LETTERS
			// R6: letters and bytes outside ASCII; none: the next 8
			Get R5
			Get R4
			I64Const ONES_80
			I64And
			I64Or
			Tee R6
			I64Eqz
			If
				Get R1
				I64Const $8
				I64Add
				Set R1
				Br $1
			End
			// the lowest of them, and where it is
			Get R6
			I64Const $0
			Get R6
			I64Sub
			I64And
			Tee R6
			I64Ctz
			I64Const $3
			I64ShrU
			Get R1
			I64Add
			Set R7
			// outside ASCII: start == end there
			Get R6
			Get R4
			I64And
			I64Eqz
			I32Eqz
			If
				RESULT(R7, R7)
				RET
			End
			// a letter: the word's end is the first byte from there that is
			// not one (bytes past the line are not, so it is at most n)
			Get R6
			I64Const $1
			I64Sub
			Set R9
			Loop
				Get R5
				I64Const $-1
				I64Xor
				I64Const ONES_80
				I64And
				Get R9
				I64Const $-1
				I64Xor
				I64And
				Tee R8
				I64Eqz
				I32Eqz
				If
					// R8: the end's high bit; R6: its offset
					Get R8
					I64Const $0
					Get R8
					I64Sub
					I64And
					Tee R8
					I64Ctz
					I64Const $3
					I64ShrU
					Get R1
					I64Add
					Set R6
					Get R8
					Get R4
					I64And
					I64Eqz
					If // an ASCII byte or the line's end (R4 is zero past n)
						RESULT(R7, R6)
						RET
					End
					// outside ASCII: start > end, for Words to go on rune by rune
					RESULT(R6, R7)
					RET
				End
				Get R1
				I64Const $8
				I64Add
				Tee R1
				Get R2
				I64GeU
				If
					RESULT(R7, R2)
					RET
				End
				LOAD8
				LETTERS
				I64Const $0
				Set R9
				Br $0
			End
		End
	End
	RESULT(R2, R2)
	RET

// func newlineIn(p unsafe.Pointer, n, readable int) int
//
// R0 p, R1 i, R2 n, R3 readable, R4 8 bytes, R5 their zero bytes once
// xored with newlines (the classic test: exact for the lowest one).
TEXT ·newlineIn(SB), NOSPLIT, $0-32
	MOVD p+0(FP), R0
	MOVD n+8(FP), R2
	MOVD readable+16(FP), R3
	I64Const $0
	Set R1
	Block
		Loop
			Get R1
			Get R2
			I64GeU
			BrIf $1
			Get R1
			I64Const $8
			I64Add
			Get R3
			I64GtU
			If // fewer than 8 bytes may be read: one at a time
				Loop
					Get R0
					Get R1
					I64Add
					I32WrapI64
					I32Load8U $0
					I32Const $10
					I32Eq
					If
						MOVD R1, ret+24(FP)
						RET
					End
					Get R1
					I64Const $1
					I64Add
					Tee R1
					Get R2
					I64LtU
					BrIf $0
				End
				Br $2
			End
			Get R0
			Get R1
			I64Add
			I32WrapI64
			I64Load $0
			I64Const $0x0a0a0a0a0a0a0a0a
			I64Xor
			Tee R4
			I64Const $0x0101010101010101
			I64Sub
			Get R4
			I64Const $-1
			I64Xor
			I64And
			I64Const ONES_80
			I64And
			Tee R5
			I64Eqz
			If
				Get R1
				I64Const $8
				I64Add
				Set R1
				Br $1
			End
			// the first newline; past n, none
			Get R5
			I64Ctz
			I64Const $3
			I64ShrU
			Get R1
			I64Add
			Tee R1
			Get R2
			I64LtU
			If
				MOVD R1, ret+24(FP)
				RET
			End
			Br $1
		End
	End
	MOVD $-1, R1
	MOVD R1, ret+24(FP)
	RET
