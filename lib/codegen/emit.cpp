// KernelDesc -> LLVM IR: a loop nest evaluating the kernel's instructions at every point.
//
// Two functions per kernel: `<name>_body(ptr noalias a0, ..., i64 begin, i64 end)` holds the loops
// (noalias lets the vectoriser widen them: the memory planner never lets a kernel write a buffer it
// reads), and `<name>(ptr args, i64 begin, i64 end)` unpacks the argument array and calls it.
// Addresses are base + sum_k idx_k * stride_k with constant strides; a reducing store whose stride
// is 0 along the innermost axis accumulates in a register across that loop (marked reassoc so
// that LLVM may vectorise the sum) and touches memory once per row.
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/Module.h>

#include <fmt/format.h>

#include <limits>

#include "codegen/codegen.h"
#include "ir/math.h"
#include "rnnc/error.h"

namespace rnnc::codegen {

namespace {

using llvm::Value;

llvm::Type* type_of(llvm::LLVMContext& ctx, DType t) {
  switch (t) {
    case DType::f32: return llvm::Type::getFloatTy(ctx);
    case DType::f64: return llvm::Type::getDoubleTy(ctx);
    case DType::i32: return llvm::Type::getInt32Ty(ctx);
    case DType::bf16: return llvm::Type::getInt16Ty(ctx);  // the bits; cast converts (dtype.h)
    case DType::i8: return llvm::Type::getInt8Ty(ctx);
  }
  throw Error("rnnc: codegen: bad dtype");
}

// LLVM values as math.h's number system. Float comparisons are ordered (false on NaN) except ne;
// the float32 transcendentals are vector_math.cpp's straight-line code, which vectorises.
struct LlvmMath {
  llvm::IRBuilderBase& b;
  static bool fl(Value* x) { return x->getType()->isFPOrFPVectorTy(); }
  Value* c(double k, Value* like) const {
    return fl(like) ? llvm::ConstantFP::get(like->getType(), k)
                    : llvm::ConstantInt::get(like->getType(), static_cast<int64_t>(k), true);
  }
  Value* neg(Value* x) const { return fl(x) ? b.CreateFNeg(x) : b.CreateNeg(x); }
  Value* abs(Value* x) const {
    return fl(x) ? b.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, x) : b.CreateSelect(lt(x, c(0, x)), b.CreateNeg(x), x);
  }
  Value* add(Value* x, Value* y) const { return fl(x) ? b.CreateFAdd(x, y) : b.CreateAdd(x, y); }
  Value* sub(Value* x, Value* y) const { return fl(x) ? b.CreateFSub(x, y) : b.CreateSub(x, y); }
  Value* mul(Value* x, Value* y) const { return fl(x) ? b.CreateFMul(x, y) : b.CreateMul(x, y); }
  Value* div(Value* x, Value* y) const { return b.CreateFDiv(x, y); }
  Value* pow(Value* x, Value* y) const { return b.CreateBinaryIntrinsic(llvm::Intrinsic::pow, x, y); }
  Value* exp(Value* x) const { return emit_exp(b, x); }
  Value* log(Value* x) const { return emit_log(b, x); }
  Value* tanh(Value* x) const { return emit_tanh(b, x); }
  Value* sigmoid(Value* x) const { return emit_sigmoid(b, x); }
  Value* sqrt(Value* x) const { return b.CreateUnaryIntrinsic(llvm::Intrinsic::sqrt, x); }
  Value* lt(Value* x, Value* y) const { return fl(x) ? b.CreateFCmpOLT(x, y) : b.CreateICmpSLT(x, y); }
  Value* le(Value* x, Value* y) const { return fl(x) ? b.CreateFCmpOLE(x, y) : b.CreateICmpSLE(x, y); }
  Value* gt(Value* x, Value* y) const { return fl(x) ? b.CreateFCmpOGT(x, y) : b.CreateICmpSGT(x, y); }
  Value* ge(Value* x, Value* y) const { return fl(x) ? b.CreateFCmpOGE(x, y) : b.CreateICmpSGE(x, y); }
  Value* eq(Value* x, Value* y) const { return fl(x) ? b.CreateFCmpOEQ(x, y) : b.CreateICmpEQ(x, y); }
  Value* ne(Value* x, Value* y) const { return fl(x) ? b.CreateFCmpUNE(x, y) : b.CreateICmpNE(x, y); }
  Value* isnan(Value* x) const { return fl(x) ? b.CreateFCmpUNO(x, x) : b.getFalse(); }
  Value* select(Value* cond, Value* x, Value* y) const { return b.CreateSelect(cond, x, y); }
  Value* mask(Value* cond, Value* like) const {
    return fl(like) ? b.CreateUIToFP(cond, like->getType()) : b.CreateZExt(cond, like->getType());
  }
};

class Emitter {
 public:
  Emitter(llvm::Module& m, const KernelDesc& k) : m_(m), ctx_(m.getContext()), b_(ctx_), k_(k) {}

  void run(const std::string& name) {
    llvm::Type* ptr = llvm::PointerType::get(ctx_, 0);
    llvm::Type* i64 = b_.getInt64Ty();
    std::vector<llvm::Type*> params(k_.args.size(), ptr);
    params.push_back(i64);
    params.push_back(i64);
    auto* body = llvm::Function::Create(llvm::FunctionType::get(b_.getVoidTy(), params, false),
                                        llvm::Function::InternalLinkage, name + "_body", m_);
    for (size_t i = 0; i < k_.args.size(); ++i) {
      body->addParamAttr(static_cast<unsigned>(i), llvm::Attribute::NoAlias);
      body->addParamAttr(static_cast<unsigned>(i), llvm::Attribute::NoCapture);
    }
    body->addFnAttr(llvm::Attribute::NoUnwind);
    b_.SetInsertPoint(llvm::BasicBlock::Create(ctx_, "entry", body));
    for (size_t i = 0; i < k_.args.size(); ++i) base_.push_back(body->getArg(static_cast<unsigned>(i)));
    Value* begin = body->getArg(static_cast<unsigned>(k_.args.size()));
    Value* end = body->getArg(static_cast<unsigned>(k_.args.size() + 1));
    std::vector<Value*> offsets(k_.args.size(), b_.getInt64(0));
    find_rows();
    if (transposes())
      tiled(begin, end, offsets);
    else
      loop(0, begin, end, offsets);
    b_.CreateRetVoid();

    // The entry point: unpack the argument array.
    auto* entry = llvm::Function::Create(llvm::FunctionType::get(b_.getVoidTy(), {ptr, i64, i64}, false),
                                         llvm::Function::ExternalLinkage, name, m_);
    entry->addFnAttr(llvm::Attribute::NoUnwind);
    b_.SetInsertPoint(llvm::BasicBlock::Create(ctx_, "entry", entry));
    if (k_.steps) {
      body->addFnAttr(llvm::Attribute::AlwaysInline);
      steps_entry(body, entry);
      return;
    }
    std::vector<Value*> call_args;
    for (size_t i = 0; i < k_.args.size(); ++i)
      call_args.push_back(k_.args[i].row_local ? row_scratch(i)
                                               : b_.CreateLoad(ptr, b_.CreateConstGEP1_64(ptr, entry->getArg(0), i)));
    call_args.push_back(entry->getArg(1));
    call_args.push_back(entry->getArg(2));
    b_.CreateCall(body, call_args);
    b_.CreateRetVoid();
  }

 private:
  // KernelDesc::steps: for s in [0, steps): the body at step s's places, the plan's
  // (base, increment, alternate) per argument; the body inlined, so one call runs them all. After
  // the step count, the staged outputs' count and per staged output (scratch place, slot at s = 0,
  // increment, bytes per point of the outer axis).
  void steps_entry(llvm::Function* body, llvm::Function* entry) {
    llvm::Type* ptr = llvm::PointerType::get(ctx_, 0);
    llvm::Type* i64 = b_.getInt64Ty();
    const size_t n = k_.args.size();
    Value* plan = entry->getArg(0);
    auto word = [&](size_t i, llvm::Type* t) { return b_.CreateLoad(t, b_.CreateConstGEP1_64(ptr, plan, i)); };
    std::vector<Value*> base(n), inc(n), alt(n);
    for (size_t a = 0; a < n; ++a) {
      const bool local = k_.args[a].row_local;
      base[a] = local ? row_scratch(a) : word(3 * a, ptr);
      inc[a] = local ? b_.getInt64(0) : static_cast<Value*>(word(3 * a + 1, i64));
      alt[a] = local ? llvm::ConstantPointerNull::get(llvm::PointerType::get(ctx_, 0))
                     : static_cast<Value*>(word(3 * a + 2, ptr));
    }
    counted(b_.getInt64(0), word(3 * n, i64), 1, "step", [&](Value* s) {
      Value* odd = b_.CreateICmpNE(b_.CreateAnd(s, b_.getInt64(1)), b_.getInt64(0));
      std::vector<Value*> at;
      for (size_t a = 0; a < n; ++a) {
        Value* moved = b_.CreateGEP(b_.getInt8Ty(), base[a], b_.CreateMul(s, inc[a]));
        Value* other = b_.CreateAnd(odd, b_.CreateIsNotNull(alt[a]));
        at.push_back(b_.CreateSelect(other, alt[a], moved));
      }
      at.push_back(entry->getArg(1));
      at.push_back(entry->getArg(2));
      b_.CreateCall(body, at);
      // Staged outputs: this share's rows, from scratch to step s's slot, once the step has read it.
      auto entry_at = [&](Value* i, llvm::Type* t) { return b_.CreateLoad(t, b_.CreateGEP(ptr, plan, i)); };
      counted(b_.getInt64(0), word(3 * n + 1, i64), 1, "staged", [&](Value* c) {
        Value* e = b_.CreateAdd(b_.getInt64(3 * n + 2), b_.CreateMul(c, b_.getInt64(4)));
        Value* row = entry_at(b_.CreateAdd(e, b_.getInt64(3)), i64);
        Value* from = b_.CreateMul(entry->getArg(1), row);
        Value* src = b_.CreateGEP(b_.getInt8Ty(), entry_at(e, ptr), from);
        Value* dst = b_.CreateGEP(b_.getInt8Ty(), entry_at(b_.CreateAdd(e, b_.getInt64(1)), ptr),
                                  b_.CreateAdd(b_.CreateMul(s, entry_at(b_.CreateAdd(e, b_.getInt64(2)), i64)), from));
        b_.CreateMemCpy(dst, llvm::MaybeAlign(), src, llvm::MaybeAlign(),
                        b_.CreateMul(b_.CreateSub(entry->getArg(2), entry->getArg(1)), row));
      });
    });
    b_.CreateRetVoid();
  }

  // A row of argument a (KernelArg::row_local) on the entry's stack, in its first block.
  Value* row_scratch(size_t a) {
    auto* slot = b_.CreateAlloca(type_of(ctx_, k_.args[a].dtype), b_.getInt64(k_.domain.back()));
    slot->setAlignment(llvm::Align(64));
    return slot;
  }

  // Emits the loop over axis `axis` from lo to hi; `offsets` are each argument's element offset
  // from the axes outside it.
  void loop(size_t axis, Value* lo, Value* hi, const std::vector<Value*>& offsets) {
    if (axis + 1 < k_.domain.size()) {
      counted(lo, hi, 1, fmt::format("axis{}", axis).c_str(), [&](Value* i) {
        std::vector<Value*> off(offsets.size());
        for (size_t a = 0; a < offsets.size(); ++a) {
          const int64_t st = k_.args[a].strides[axis];
          off[a] = st == 0 ? offsets[a] : b_.CreateAdd(offsets[a], b_.CreateMul(i, b_.getInt64(st)));
        }
        loop(axis + 1, b_.getInt64(0), b_.getInt64(k_.domain[axis + 1]), off);
      });
      return;
    }
    if (passes_.count == 1) {
      pass(0, lo, hi, offsets);
      return;
    }
    // A row in passes (KernelDesc::passes): before each pass, what is the same along the row (its
    // totals so far, the work on them, values stored once per row); then the pass over the row.
    row_.assign(k_.code.size(), nullptr);
    recip_.assign(k_.code.size(), nullptr);
    totals_.assign(k_.stores.size(), nullptr);
    for (int p = 0; p < passes_.count; ++p) {
      bool points = false;
      for (size_t i = 0; i < k_.code.size(); ++i)
        if (row_instr_[i] && passes_.of_instr[i] == p) {
          row_[i] = instr(k_.code[i], row_, offsets);
          if (divisor_[i]) recip_[i] = b_.CreateFDiv(fconst(k_.code[i].dtype, 1.0), row_[i]);
        }
      for (size_t s = 0; s < k_.stores.size(); ++s) {
        if (passes_.of_store[s] != p) continue;
        const Store& st = k_.stores[s];
        if (row_store_[s])
          b_.CreateStore(row_[st.value], address(st.arg, offsets[st.arg]));
        else
          points = true;
      }
      if (points) pass(p, lo, hi, offsets);
    }
  }

  // One pass over the innermost axis, from lo to hi: the stores of pass p at every point.
  void pass(int p, Value* lo, Value* hi, const std::vector<Value*>& offsets) {
    const size_t axis = k_.domain.size() - 1;
    llvm::Function* f = b_.GetInsertBlock()->getParent();
    llvm::BasicBlock* pre = b_.GetInsertBlock();
    auto* header = llvm::BasicBlock::Create(ctx_, fmt::format("axis{}", axis), f);
    auto* body = llvm::BasicBlock::Create(ctx_, fmt::format("axis{}.body", axis), f);
    auto* exit = llvm::BasicBlock::Create(ctx_, fmt::format("axis{}.exit", axis), f);

    // Register accumulators for stores reducing along the innermost axis.
    std::vector<int> acc_store;
    for (size_t s = 0; s < k_.stores.size(); ++s)
      if (k_.stores[s].reduce != Op::Input && k_.args[k_.stores[s].arg].strides[axis] == 0 && passes_.of_store[s] == p)
        acc_store.push_back(static_cast<int>(s));

    b_.CreateBr(header);
    b_.SetInsertPoint(header);
    llvm::PHINode* iv = b_.CreatePHI(b_.getInt64Ty(), 2, "i");
    iv->addIncoming(lo, pre);
    std::vector<llvm::PHINode*> acc;
    for (int s : acc_store) {
      const Store& st = k_.stores[s];
      const DType t = acc_type(st);
      llvm::PHINode* phi = b_.CreatePHI(type_of(ctx_, t), 2, "acc");
      phi->addIncoming(identity(st.reduce, t), pre);
      acc.push_back(phi);
    }
    b_.CreateCondBr(b_.CreateICmpSLT(iv, hi), body, exit);

    b_.SetInsertPoint(body);
    std::vector<Value*> off(offsets.size());
    for (size_t a = 0; a < offsets.size(); ++a) {
      const int64_t st = k_.args[a].strides[axis];
      off[a] = st == 0 ? offsets[a] : b_.CreateAdd(offsets[a], b_.CreateMul(iv, b_.getInt64(st)));
    }
    std::vector<Value*> acc_next;
    point(p, off, acc_store, acc, acc_next);
    llvm::BasicBlock* latch = b_.GetInsertBlock();
    iv->addIncoming(b_.CreateAdd(iv, b_.getInt64(1)), latch);
    for (size_t j = 0; j < acc.size(); ++j) acc[j]->addIncoming(acc_next[j], latch);
    llvm::BranchInst* back = b_.CreateBr(header);
    // Float32 sums run in float64 registers (acc_type), and the vectoriser sizes its vectors by the
    // widest type in the loop: 4 lanes of double on AVX2, so the float32 work beside the sum (a
    // layer norm's first pass: an LSTM's gates) would run at half width. Eight float lanes, the
    // sums in two vectors of doubles.
    // (Only where every accumulator is a sum: max's NaN-propagating select is not one LLVM knows.)
    bool widened = false, sums = true;
    for (int s : acc_store) {
      widened |= acc_type(k_.stores[s]) != k_.code[k_.stores[s].value].dtype;
      sums &= k_.stores[s].reduce == Op::Sum;
    }
    if (widened && sums) {
      llvm::Metadata* width[] = {llvm::MDString::get(ctx_, "llvm.loop.vectorize.width"),
                                 llvm::ConstantAsMetadata::get(b_.getInt32(8))};
      llvm::Metadata* parts[] = {nullptr, llvm::MDNode::get(ctx_, width)};
      llvm::MDNode* md = llvm::MDNode::getDistinct(ctx_, parts);
      md->replaceOperandWith(0, md);
      back->setMetadata(llvm::LLVMContext::MD_loop, md);
    }

    b_.SetInsertPoint(exit);
    // Fold each register accumulator into memory once; the result is the row's total.
    for (size_t j = 0; j < acc_store.size(); ++j) {
      const Store& st = k_.stores[acc_store[j]];
      Value* ptr = address(st.arg, offsets[st.arg]);
      const DType t = k_.code[st.value].dtype;
      Value* sum = t == acc_type(st) ? acc[j] : b_.CreateFPTrunc(acc[j], type_of(ctx_, t));
      Value* total = k_.writes_row_total(st) ? sum : combine(st.reduce, b_.CreateLoad(type_of(ctx_, t), ptr), sum, t);
      b_.CreateStore(total, ptr);
      if (!totals_.empty()) totals_[acc_store[j]] = total;
    }
  }

  void find_rows() {
    passes_ = k_.passes();
    KernelDesc::Rows rows = k_.rows();
    row_instr_ = std::move(rows.instr);
    row_store_ = std::move(rows.store);
    kept_ = std::move(rows.kept);
    divisor_.assign(k_.code.size(), false);
    for (size_t i = 0; i < k_.code.size(); ++i) {
      const Instr& in = k_.code[i];
      if (in.op == Op::Div && !row_instr_[i] && row_instr_[in.b] && is_float(in.dtype)) divisor_[in.b] = true;
    }
    for (const Instr& in : k_.code)
      if (in.op == Op::Sum || in.op == Op::Max) {
        const Store& st = k_.stores.at(static_cast<size_t>(in.arg));
        if (st.reduce != in.op || k_.args[st.arg].strides.back() != 0)
          throw Error("rnnc: codegen: a row total of a store that does not reduce along the row");
      }
  }

  // A transpose: a 2-D kernel without reductions that reads an argument down its columns (stride
  // 1 along the outer axis, more along the inner one), as a recurrent weight W [4H, H] copied into
  // W^T once per call. Row by row, each point of such a read touches another cache line and, for
  // a large W, another page; in tiles of kTile x kTile points the lines a tile reads serve all of
  // its rows (docs/performance.md).
  static constexpr int64_t kTile = 32;
  bool transposes() const {
    if (k_.domain.size() != 2 || k_.domain[0] < kTile || k_.domain[1] < kTile) return false;
    for (const Store& st : k_.stores)
      if (st.reduce != Op::Input) return false;
    for (const KernelArg& a : k_.args)
      if (a.strides[0] == 1 && a.strides[1] > 1) return true;
    return false;
  }

  // for (Value* i = lo; i < hi; i += step) body(i), at the insertion point.
  template <class F> void counted(Value* lo, Value* hi, int64_t step, const char* name, F&& body) {
    llvm::Function* f = b_.GetInsertBlock()->getParent();
    llvm::BasicBlock* pre = b_.GetInsertBlock();
    auto* header = llvm::BasicBlock::Create(ctx_, name, f);
    auto* inside = llvm::BasicBlock::Create(ctx_, fmt::format("{}.body", name), f);
    auto* exit = llvm::BasicBlock::Create(ctx_, fmt::format("{}.exit", name), f);
    b_.CreateBr(header);
    b_.SetInsertPoint(header);
    llvm::PHINode* iv = b_.CreatePHI(b_.getInt64Ty(), 2, "i");
    iv->addIncoming(lo, pre);
    b_.CreateCondBr(b_.CreateICmpSLT(iv, hi), inside, exit);
    b_.SetInsertPoint(inside);
    body(iv);
    iv->addIncoming(b_.CreateAdd(iv, b_.getInt64(step)), b_.GetInsertBlock());
    b_.CreateBr(header);
    b_.SetInsertPoint(exit);
  }

  // The two axes in tiles: rows [lo, hi) of the outer axis (this thread's share), all of the inner.
  void tiled(Value* lo, Value* hi, const std::vector<Value*>& offsets) {
    auto smin = [&](Value* a, Value* b) { return b_.CreateSelect(b_.CreateICmpSLT(a, b), a, b); };
    Value* cols = b_.getInt64(k_.domain[1]);
    counted(lo, hi, kTile, "tile0", [&](Value* i0) {
      Value* i1 = smin(b_.CreateAdd(i0, b_.getInt64(kTile)), hi);
      counted(b_.getInt64(0), cols, kTile, "tile1", [&](Value* j0) {
        Value* j1 = smin(b_.CreateAdd(j0, b_.getInt64(kTile)), cols);
        counted(i0, i1, 1, "axis0", [&](Value* i) {
          std::vector<Value*> row(offsets.size());
          for (size_t a = 0; a < offsets.size(); ++a)
            row[a] = b_.CreateAdd(offsets[a], b_.CreateMul(i, b_.getInt64(k_.args[a].strides[0])));
          counted(j0, j1, 1, "axis1", [&](Value* j) {
            std::vector<Value*> off(row.size());
            for (size_t a = 0; a < row.size(); ++a)
              off[a] = b_.CreateAdd(row[a], b_.CreateMul(j, b_.getInt64(k_.args[a].strides[1])));
            std::vector<Value*> none;
            point(0, off, {}, {}, none);
          });
        });
      });
    });
  }

  // Register sums of float32 run in float64: a row of a softmax or a loss keeps its precision, and
  // the loop still vectorises. Max needs no extra precision.
  DType acc_type(const Store& st) const {
    const DType t = k_.code[st.value].dtype;
    return st.reduce == Op::Sum && t == DType::f32 ? DType::f64 : t;
  }

  Value* address(int arg, Value* offset) { return b_.CreateGEP(type_of(ctx_, k_.args[arg].dtype), base_[arg], offset); }

  Value* identity(Op reduce, DType t) {
    if (reduce == Op::Sum) return is_float(t) ? llvm::ConstantFP::get(type_of(ctx_, t), 0.0) : b_.getInt32(0);
    return is_float(t) ? llvm::ConstantFP::get(type_of(ctx_, t), -std::numeric_limits<double>::infinity())
                       : b_.getInt32(std::numeric_limits<int32_t>::min());
  }

  // acc (+) v for a reducing store. max propagates NaN from either side, like the interpreter.
  Value* combine(Op reduce, Value* acc, Value* v, DType t) {
    if (reduce == Op::Sum) {
      if (!is_float(t)) return b_.CreateAdd(acc, v);
      llvm::FastMathFlags fmf;
      fmf.setAllowReassoc();
      auto* add = llvm::cast<llvm::Instruction>(b_.CreateFAdd(acc, v));
      add->setFastMathFlags(fmf);
      return add;
    }
    if (!is_float(t)) return b_.CreateSelect(b_.CreateICmpSGT(v, acc), v, acc);
    Value* m = b_.CreateSelect(b_.CreateFCmpOGT(v, acc), v, acc);
    return b_.CreateSelect(b_.CreateFCmpUNO(v, v), v, m);
  }

  // The body at one point of the domain: what pass p computes there (values the same along the
  // row come from row_; a pass recomputes the point values of earlier passes that it needs).
  void point(int p, const std::vector<Value*>& off, const std::vector<int>& acc_store,
             const std::vector<llvm::PHINode*>& acc, std::vector<Value*>& acc_next) {
    std::vector<Value*> v(k_.code.size());
    for (size_t i = 0; i < k_.code.size(); ++i)
      if (row_instr_[i]) {
        v[i] = row_[i];
      } else if (passes_.of_instr[i] < p && kept_[i] >= 0) {  // written at this point by its pass
        const int arg = k_.stores[kept_[i]].arg;
        v[i] = b_.CreateLoad(type_of(ctx_, k_.code[i].dtype), address(arg, off[arg]));
      } else if (passes_.of_instr[i] <= p) {
        const Instr& in = k_.code[i];
        // x / r for r the same along the row: x (1 / r), one division a row instead of one a point.
        v[i] = in.op == Op::Div && divisor_[in.b] ? b_.CreateFMul(v[in.a], recip_[in.b]) : instr(in, v, off);
      }
    size_t j = 0;
    for (size_t s = 0; s < k_.stores.size(); ++s) {
      if (passes_.of_store[s] != p || row_store_[s]) continue;
      const Store& st = k_.stores[s];
      const DType t = k_.code[st.value].dtype;
      if (j < acc_store.size() && acc_store[j] == static_cast<int>(s)) {
        const DType at = acc_type(st);
        Value* x = at == t ? v[st.value] : b_.CreateFPExt(v[st.value], type_of(ctx_, at));
        acc_next.push_back(combine(st.reduce, acc[j], x, at));
        ++j;
        continue;
      }
      Value* p = address(st.arg, off[st.arg]);
      Value* x = v[st.value];
      if (st.reduce != Op::Input) x = combine(st.reduce, b_.CreateLoad(type_of(ctx_, t), p), x, t);
      b_.CreateStore(x, p);
    }
  }

  Value* fconst(DType t, double x) { return llvm::ConstantFP::get(type_of(ctx_, t), x); }

  Value* instr(const Instr& in, const std::vector<Value*>& v, const std::vector<Value*>& off) {
    llvm::Type* t = type_of(ctx_, in.dtype);
    const bool fl = is_float(in.dtype);
    Value* a = in.a >= 0 ? v[in.a] : nullptr;
    Value* bb = in.b >= 0 ? v[in.b] : nullptr;
    auto& b = b_;
    switch (in.op) {
      case Op::Input: return b.CreateLoad(t, address(in.arg, off[in.arg]));
      case Op::Sum:
      case Op::Max: return totals_.at(static_cast<size_t>(in.arg));  // a row total (loop)
      case Op::Full:
        if (in.dtype == DType::bf16) return b.getInt16(bf16(static_cast<float>(in.value)).bits);
        return fl ? fconst(in.dtype, in.value) : static_cast<Value*>(b.getInt32(static_cast<int32_t>(in.value)));
      case Op::Cast: {
        const DType from = k_.code[in.a].dtype;
        if (from == in.dtype) return a;
        if (from == DType::bf16) {  // the upper half of a float32
          Value* f = b.CreateBitCast(b.CreateShl(b.CreateZExt(a, b.getInt32Ty()), 16), b.getFloatTy());
          return in.dtype == DType::f32 ? f : b.CreateFPExt(f, t);
        }
        if (in.dtype == DType::bf16) {  // rounded to nearest even, as bf16's constructor (dtype.h)
          Value* f = from == DType::f32 ? a : b.CreateFPTrunc(a, b.getFloatTy());
          Value* u = b.CreateBitCast(f, b.getInt32Ty());
          Value* odd = b.CreateAnd(b.CreateLShr(u, 16), 1);
          Value* r = b.CreateLShr(b.CreateAdd(b.CreateAdd(u, b.getInt32(0x7fff)), odd), 16);
          Value* nan = b.CreateOr(b.CreateLShr(u, 16), 0x40);
          Value* is_nan = b.CreateICmpUGT(b.CreateAnd(u, 0x7fffffff), b.getInt32(0x7f800000));
          return b.CreateTrunc(b.CreateSelect(is_nan, nan, r), t);
        }
        if (is_float(from) && fl) return b.CreateFPCast(a, t);
        // Saturating, NaN to 0: defined for every float, as Tensor::set converts.
        if (is_float(from)) return b.CreateIntrinsic(llvm::Intrinsic::fptosi_sat, {t, a->getType()}, {a});
        return b.CreateSIToFP(a, t);
      }
      default: {
        LlvmMath m{b};
        if (!math::computes(in.op, in.dtype))
          throw Error(fmt::format("rnnc: codegen: {} cannot be part of a kernel", name_of(in.op)));
        return math::apply(m, in.op, a, bb, in.c >= 0 ? v[in.c] : nullptr);
      }
    }
  }

  llvm::Module& m_;
  llvm::LLVMContext& ctx_;
  llvm::IRBuilder<> b_;
  const KernelDesc& k_;
  std::vector<Value*> base_;
  KernelDesc::Passes passes_;
  // In a kernel of several passes (KernelDesc::rows): what is computed once per row, what later
  // passes read back; and the row's values and totals as they are emitted.
  std::vector<bool> row_instr_, row_store_;
  // Row values that divide point values: their reciprocals, once a row (a multiply costs a fraction
  // of a divide; the result may differ from the quotient in its last bit).
  std::vector<bool> divisor_;
  std::vector<Value*> recip_;
  std::vector<int> kept_;
  std::vector<Value*> row_, totals_;
};

}  // namespace

void emit_kernel(llvm::Module& m, const KernelDesc& k, const std::string& name) { Emitter(m, k).run(name); }

}  // namespace rnnc::codegen
