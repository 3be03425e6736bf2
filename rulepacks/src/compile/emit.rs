//! A thin layer over `wasm_encoder`'s instruction sink: structured blocks
//! addressed by name instead of relative depth, and locals allocated as the
//! body is generated (declared when the function is finished).

use wasm_encoder::{BlockType, Function, InstructionSink, MemArg, MemArgTarget, ValType};

/// A block or loop, named by the nesting depth it opened at, so a branch
/// can be emitted from any depth inside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Label(u32);

/// One function body being generated.
pub(super) struct Body {
    bytes: Vec<u8>,
    params: u32,
    locals: Vec<ValType>,
    /// Open blocks, loops and ifs.
    depth: u32,
    free_i64: Vec<u32>,
    free_i32: Vec<u32>,
}

impl Body {
    pub(super) fn new(params: u32) -> Body {
        Body {
            bytes: Vec::new(),
            params,
            locals: Vec::new(),
            depth: 0,
            free_i64: Vec::new(),
            free_i32: Vec::new(),
        }
    }

    /// The instruction sink for straight-line code. Control instructions
    /// that open or close blocks go through the methods below instead.
    pub(super) fn ins(&mut self) -> InstructionSink<'_> {
        InstructionSink::new(&mut self.bytes)
    }

    /// A new local for the whole function.
    pub(super) fn local(&mut self, ty: ValType) -> u32 {
        self.locals.push(ty);
        self.params + self.locals.len() as u32 - 1
    }

    /// A scratch local, to be handed back with [`Body::release`] once its
    /// value is dead (values are nested, so scratch use is stack-like).
    pub(super) fn temp(&mut self, ty: ValType) -> u32 {
        let free = match ty {
            ValType::I32 => &mut self.free_i32,
            _ => &mut self.free_i64,
        };
        match free.pop() {
            Some(l) => l,
            None => self.local(ty),
        }
    }

    pub(super) fn release(&mut self, ty: ValType, local: u32) {
        match ty {
            ValType::I32 => self.free_i32.push(local),
            _ => self.free_i64.push(local),
        }
    }

    pub(super) fn block(&mut self) -> Label {
        self.ins().block(BlockType::Empty);
        self.depth += 1;
        Label(self.depth)
    }

    pub(super) fn loop_(&mut self) -> Label {
        self.ins().loop_(BlockType::Empty);
        self.depth += 1;
        Label(self.depth)
    }

    pub(super) fn if_(&mut self, bt: BlockType) {
        self.ins().if_(bt);
        self.depth += 1;
    }

    pub(super) fn else_(&mut self) {
        self.ins().else_();
    }

    pub(super) fn end(&mut self) {
        self.ins().end();
        self.depth -= 1;
    }

    pub(super) fn br(&mut self, to: Label) {
        let rel = self.depth - to.0;
        self.ins().br(rel);
    }

    pub(super) fn br_if(&mut self, to: Label) {
        let rel = self.depth - to.0;
        self.ins().br_if(rel);
    }

    /// Closes the body and declares its locals.
    pub(super) fn finish(mut self) -> Function {
        debug_assert_eq!(self.depth, 0, "unbalanced blocks");
        self.ins().end();
        let mut f = Function::new_with_locals_types(self.locals);
        f.raw(self.bytes);
        f
    }
}

pub(super) fn m64(offset: u64) -> MemArg {
    MemArg {
        offset,
        align: 3,
        target: MemArgTarget::Memory(0),
        ordering: None,
    }
}

pub(super) fn m32(offset: u64) -> MemArg {
    MemArg {
        offset,
        align: 2,
        target: MemArgTarget::Memory(0),
        ordering: None,
    }
}
