//! Stand-ins, on the MIPS builds only, for the libunwind functions std refers to. With
//! `panic=abort` nothing unwinds: std's personality routine (which refers to the
//! context accessors below) is never run, and its panic hook walks the stack
//! (`_Unwind_Backtrace`) only for `RUST_BACKTRACE`, which the daemon does not run with
//! and which the router builds' std could not symbolize anyway. Yet those references
//! link the whole of LLVM's libunwind (its DWARF interpreter) and, for its error
//! messages, musl's printf: about 35 KB of the 600 KB budget on mipsel (`llvm-nm
//! --size-sort` of an unstripped build). Defined here, they are found before the library,
//! so nothing of it is linked. A panic still prints its message (to stderr, which procd
//! hands to `logread`); a backtrace asked for comes out empty.
//!
//! Exactly the symbols the mips and mipsel builds refer to (`llvm-nm -u` of the linked
//! object): a std that needed one more would fail to link with duplicate symbols, not
//! misbehave.

use core::ffi::{c_int, c_void};

/// `_URC_END_OF_STACK`: the walk is over before its first frame.
const END_OF_STACK: c_int = 5;

/// Walks no frame: `trace` is never called.
#[no_mangle]
pub extern "C" fn _Unwind_Backtrace(_trace: *const c_void, _arg: *mut c_void) -> c_int {
    END_OF_STACK
}

/// Never asked, as no frame is ever handed out.
#[no_mangle]
pub extern "C" fn _Unwind_GetIP(_context: *mut c_void) -> usize {
    0
}

/// The accessors of std's personality routine, which runs only while unwinding: never.
#[no_mangle]
pub extern "C" fn _Unwind_GetIPInfo(_context: *mut c_void, _before: *mut c_int) -> usize {
    0
}

/// See [`_Unwind_GetIPInfo`].
#[no_mangle]
pub extern "C" fn _Unwind_GetLanguageSpecificData(_context: *mut c_void) -> *mut c_void {
    core::ptr::null_mut()
}

/// See [`_Unwind_GetIPInfo`].
#[no_mangle]
pub extern "C" fn _Unwind_GetRegionStart(_context: *mut c_void) -> usize {
    0
}

/// See [`_Unwind_GetIPInfo`].
#[no_mangle]
pub extern "C" fn _Unwind_GetDataRelBase(_context: *mut c_void) -> usize {
    0
}

/// See [`_Unwind_GetIPInfo`].
#[no_mangle]
pub extern "C" fn _Unwind_GetTextRelBase(_context: *mut c_void) -> usize {
    0
}

/// See [`_Unwind_GetIPInfo`].
#[no_mangle]
pub extern "C" fn _Unwind_SetGR(_context: *mut c_void, _index: c_int, _value: usize) {}

/// See [`_Unwind_GetIPInfo`].
#[no_mangle]
pub extern "C" fn _Unwind_SetIP(_context: *mut c_void, _value: usize) {}
