// A program's schedule as bytes and back (serialize.h). Little-endian fixed-width fields, in the
// order the structs declare them; every count and index is checked against what remains and what
// exists before it is used, so damaged bytes are an Error, never a wild read or a huge allocation.
#include "exec/serialize.h"

#include <fmt/format.h>

#include <cstring>
#include <map>
#include <type_traits>

#include "rnnc/error.h"

namespace rnnc::exec {

namespace {

constexpr char kMagic[8] = {'R', 'N', 'N', 'C', 'P', 'R', 'G', '\n'};
constexpr uint32_t kVersion = 3;  // 2: int8 GEMMs (GemmStep::scale); 3: partial sums (KernelStep)

class Writer {
 public:
  template <class T>
  requires std::is_arithmetic_v<T>
  void put(T v) {
    char b[sizeof(T)];
    std::memcpy(b, &v, sizeof(T));
    out_.append(b, sizeof(T));
  }
  void put(bool v) { put<uint8_t>(v ? 1 : 0); }
  void put(DType t) { put<uint8_t>(static_cast<uint8_t>(t)); }
  void put(const std::string& s) {
    put<uint64_t>(s.size());
    out_ += s;
  }
  template <class T> void put(const std::vector<T>& v) {
    put<uint64_t>(v.size());
    for (const T& x : v) put(x);
  }
  template <class A, class B> void put(const std::pair<A, B>& p) {
    put(p.first);
    put(p.second);
  }
  void put(const BufferRef& b) {
    put<uint8_t>(static_cast<uint8_t>(b.space));
    put<int32_t>(b.index);
  }
  void put(const Access& a) {
    put(a.buf);
    put(a.dtype);
    put(a.shape);
    put(a.offset);
    put(a.strides);
  }
  void put(const Spec& s) {
    put(s.shape);
    put(s.dtype);
    put(s.name);
  }
  void put(const Tensor& t) {
    put(t.dtype());
    put(t.shape());
    out_.append(static_cast<const char*>(t.raw()), t.nbytes());
  }
  void put(const Fill& f) {
    put<uint8_t>(static_cast<uint8_t>(f.identity));
    put<int32_t>(f.arg);
    put(f.count);
  }
  void put(const ArenaBuffer& b) {
    put(b.bytes);
    put(b.offset);
  }
  void put(const RevolveSchedule::Back& b) {
    put<int32_t>(b.restore);
    put(b.from);
    put(b.copies);
  }
  void put(const Schedule& s);

  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

void Writer::put(const Schedule& s) {
  // Revolve steps are shared by the two loop steps of a pair: a table of them first, each naming
  // the step of its forward loop, and the loop steps refer to it by position.
  std::vector<const RevolveStep*> revolves;
  auto revolve_id = [&](const RevolveStep* r) -> int32_t {
    if (!r) return -1;
    for (size_t i = 0; i < revolves.size(); ++i)
      if (revolves[i] == r) return static_cast<int32_t>(i);
    revolves.push_back(r);
    return static_cast<int32_t>(revolves.size() - 1);
  };
  for (const Step& st : s.steps)
    if (st.kind == Step::Kind::Loop) revolve_id(st.loop->revolve.get());
  put<uint64_t>(revolves.size());
  for (const RevolveStep* r : revolves) {
    int32_t forward = -1;
    for (size_t i = 0; i < s.steps.size(); ++i)
      if (s.steps[i].kind == Step::Kind::Loop && s.steps[i].loop.get() == r->forward) forward = static_cast<int32_t>(i);
    if (forward < 0) throw Error("rnnc: program: a Revolve loop pair whose forward loop is not in its schedule");
    put(forward);
    put(r->schedule.steps);
    put<int32_t>(r->schedule.slots);
    put(r->schedule.kept);
    put(r->schedule.back);
    put(r->schedule.rerun);
    put(r->slots);
    put(r->work);
    for (const auto& at : r->carry_at) put(at);
    put(r->ys_at);
    put(r->reads);
  }
  put<uint64_t>(s.steps.size());
  for (const Step& st : s.steps) {
    put<uint8_t>(static_cast<uint8_t>(st.kind));
    switch (st.kind) {
      case Step::Kind::Kernel: {
        const KernelStep& k = st.kernel;
        put<int32_t>(k.kernel);
        put(k.args);
        put(k.fills);
        put(k.outer);
        put(k.points);
        put(k.splittable);
        put<uint64_t>(k.partials.size());
        for (const Partial& q : k.partials) {
          put<int32_t>(q.fill);
          put(q.copies);
        }
        put(k.chunks);
        break;
      }
      case Step::Kind::Gemm:
        put(st.gemm.a);
        put(st.gemm.b);
        put(st.gemm.c);
        put(st.gemm.scale);
        break;
      case Step::Kind::Library: {
        const LibraryStep& l = st.library;
        put<uint8_t>(static_cast<uint8_t>(l.routine));
        put(l.ints);
        put(l.where);
        put(l.inputs);
        put(l.out);
        break;
      }
      case Step::Kind::Loop: {
        const LoopStep& l = *st.loop;
        put(*l.body);
        put(l.length);
        put(l.reverse);
        put<int32_t>(l.carries);
        put<int32_t>(l.xs);
        put(l.bindings);
        put(l.results);
        put(l.scratch);
        for (const auto& at : l.carry_at) put(at);
        put(l.unused_at);
        put(l.history);
        put(l.body_output);
        put(l.binding_step);
        put(l.result_step);
        put(l.staged_at);
        put(revolve_id(l.revolve.get()));
        break;
      }
    }
    put(st.reads);
    put(st.writes);
  }
  put(s.buffers);
  put(s.literals);
  put(s.outputs);
  put(s.inputs);
  put(s.arena_bytes);
}

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}

  [[noreturn]] void bad(const std::string& what) const {
    throw Error(fmt::format("rnnc: program: {} at byte {} of {} (a damaged or foreign file?)", what, at_, in_.size()));
  }
  const char* take(size_t n, const char* what) {
    if (n > in_.size() - at_) bad(fmt::format("truncated: {} needs {} bytes", what, n));
    const char* p = in_.data() + at_;
    at_ += n;
    return p;
  }
  template <class T> T num(const char* what) {
    T v;
    std::memcpy(&v, take(sizeof(T), what), sizeof(T));
    return v;
  }
  bool flag(const char* what) {
    const uint8_t v = num<uint8_t>(what);
    if (v > 1) bad(fmt::format("{} is {}, not a bool", what, v));
    return v == 1;
  }
  DType dtype(const char* what) {
    const uint8_t v = num<uint8_t>(what);
    if (v > static_cast<uint8_t>(DType::i8)) bad(fmt::format("{} is {}, not a dtype", what, v));
    return static_cast<DType>(v);
  }
  // A count of items of at least `item` bytes each: never more than the bytes left could hold.
  size_t count(const char* what, size_t item = 1) {
    const uint64_t n = num<uint64_t>(what);
    if (n > (in_.size() - at_) / std::max<size_t>(item, 1)) bad(fmt::format("{} counts {} items", what, n));
    return static_cast<size_t>(n);
  }
  template <class T> std::vector<T> nums(const char* what) {
    std::vector<T> v(count(what, sizeof(T)));
    for (T& x : v) x = num<T>(what);
    return v;
  }
  std::string text(const char* what) {
    const size_t n = count(what);
    return std::string(take(n, what), n);
  }
  Shape shape(const char* what) {
    Shape s = nums<int64_t>(what);
    for (int64_t e : s)
      if (e < 0) bad(fmt::format("{} has a negative extent {}", what, e));
    return s;
  }
  BufferRef buf() {
    BufferRef b;
    const uint8_t space = num<uint8_t>("a buffer's space");
    if (space > static_cast<uint8_t>(Space::Literal)) bad(fmt::format("a buffer's space is {}", space));
    b.space = static_cast<Space>(space);
    b.index = num<int32_t>("a buffer's index");
    return b;
  }
  Access access() {
    Access a;
    a.buf = buf();
    a.dtype = dtype("an access's dtype");
    a.shape = shape("an access's shape");
    a.offset = num<int64_t>("an access's offset");
    a.strides = nums<int64_t>("an access's strides");
    return a;
  }
  std::vector<Access> accesses(const char* what) {
    std::vector<Access> v(count(what, 14));
    for (Access& a : v) a = access();
    return v;
  }
  Spec spec() {
    Spec s;
    s.shape = shape("a spec's shape");
    s.dtype = dtype("a spec's dtype");
    s.name = text("a spec's name");
    return s;
  }
  Tensor tensor() {
    const DType t = dtype("a literal's dtype");
    const Shape s = shape("a literal's shape");
    int64_t n = 1;
    for (int64_t e : s) {
      if (e != 0 && n > (static_cast<int64_t>(in_.size()) + 1) / e) bad("a literal larger than the file");
      n *= e;
    }
    const size_t bytes = static_cast<size_t>(n) * size_of(t);
    const char* p = take(bytes, "a literal's values");
    Tensor v = Tensor::empty(s, t);
    if (bytes) std::memcpy(v.raw(), p, bytes);
    return v;
  }
  Schedule schedule(int depth);
  bool done() const { return at_ == in_.size(); }

 private:
  std::string_view in_;
  size_t at_ = 0;
};

Schedule Reader::schedule(int depth) {
  if (depth > 64) bad("loops nested more than 64 deep");
  Schedule s;
  struct Pending {
    int32_t forward;
    std::shared_ptr<RevolveStep> step;
  };
  std::vector<Pending> revolves(count("the Revolve steps", 8));
  for (Pending& p : revolves) {
    p.forward = num<int32_t>("a Revolve step's forward loop");
    p.step = std::make_shared<RevolveStep>();
    RevolveStep& r = *p.step;
    r.schedule.steps = num<int64_t>("a Revolve schedule's steps");
    r.schedule.slots = num<int32_t>("a Revolve schedule's slots");
    r.schedule.kept = nums<int32_t>("a Revolve schedule's kept slots");
    r.schedule.back.resize(count("a Revolve schedule's back steps", 20));
    for (RevolveSchedule::Back& b : r.schedule.back) {
      b.restore = num<int32_t>("a back step's slot");
      b.from = num<int64_t>("a back step's start");
      b.copies.resize(count("a back step's copies", 12));
      for (auto& [q, slot] : b.copies) {
        q = num<int64_t>("a copy's position");
        slot = num<int32_t>("a copy's slot");
      }
    }
    r.schedule.rerun = num<int64_t>("a Revolve schedule's reruns");
    r.slots = accesses("a Revolve step's slots");
    r.work = access();
    for (auto& at : r.carry_at) at = nums<int64_t>("a Revolve step's carry offsets");
    r.ys_at = nums<int64_t>("a Revolve step's output offsets");
    r.reads.resize(count("a Revolve step's reads", 8));
    for (auto& [b, c] : r.reads) {
      b = num<int32_t>("a Revolve read's binding");
      c = num<int32_t>("a Revolve read's carry");
    }
  }
  s.steps.resize(count("the steps", 9));
  for (Step& st : s.steps) {
    const uint8_t kind = num<uint8_t>("a step's kind");
    if (kind > static_cast<uint8_t>(Step::Kind::Loop)) bad(fmt::format("a step's kind is {}", kind));
    st.kind = static_cast<Step::Kind>(kind);
    switch (st.kind) {
      case Step::Kind::Kernel: {
        KernelStep& k = st.kernel;
        k.kernel = num<int32_t>("a kernel's index");
        k.args = accesses("a kernel's arguments");
        k.fills.resize(count("a kernel's fills", 13));
        for (Fill& f : k.fills) {
          const uint8_t id = num<uint8_t>("a fill's identity");
          if (id > static_cast<uint8_t>(Fill::Identity::Lowest)) bad(fmt::format("a fill's identity is {}", id));
          f.identity = static_cast<Fill::Identity>(id);
          f.arg = num<int32_t>("a fill's argument");
          f.count = num<int64_t>("a fill's count");
          if (f.arg < 0 || static_cast<size_t>(f.arg) >= k.args.size())
            bad(fmt::format("a fill's argument is {}", f.arg));
        }
        k.outer = num<int64_t>("a kernel's outer extent");
        k.points = num<int64_t>("a kernel's points");
        k.splittable = flag("a kernel's splittable flag");
        k.partials.resize(count("a kernel's partial sums", 12));
        for (Partial& q : k.partials) {
          q.fill = num<int32_t>("a partial sum's fill");
          if (q.fill < 0 || static_cast<size_t>(q.fill) >= k.fills.size())
            bad(fmt::format("a partial sum's fill is {}", q.fill));
          q.copies = access();
        }
        k.chunks = num<int64_t>("a kernel's chunks");
        if (!k.partials.empty() && (k.chunks < 2 || k.chunks > k.outer))
          bad(fmt::format("a kernel of outer extent {} in {} chunks", k.outer, k.chunks));
        break;
      }
      case Step::Kind::Gemm:
        st.gemm.a = access();
        st.gemm.b = access();
        st.gemm.c = access();
        st.gemm.scale = access();
        break;
      case Step::Kind::Library: {
        LibraryStep& l = st.library;
        const uint8_t r = num<uint8_t>("a library step's routine");
        if (r > static_cast<uint8_t>(Routine::Pad)) bad(fmt::format("a library step's routine is {}", r));
        l.routine = static_cast<Routine>(r);
        l.ints = nums<int64_t>("a library step's attributes");
        l.where = text("a library step's origin");
        l.inputs = accesses("a library step's inputs");
        l.out = access();
        break;
      }
      case Step::Kind::Loop: {
        auto l = std::make_shared<LoopStep>();
        l->body = std::make_shared<Schedule>(schedule(depth + 1));
        l->length = num<int64_t>("a loop's length");
        l->reverse = flag("a loop's direction");
        l->carries = num<int32_t>("a loop's carries");
        l->xs = num<int32_t>("a loop's sequences");
        l->bindings = accesses("a loop's bindings");
        l->results = accesses("a loop's results");
        l->scratch = access();
        for (auto& at : l->carry_at) at = nums<int64_t>("a loop's carry offsets");
        l->unused_at = nums<int64_t>("a loop's unused offsets");
        l->history = accesses("a loop's histories");
        l->body_output = nums<int32_t>("a loop's body outputs");
        l->binding_step = nums<int64_t>("a loop's binding steps");
        l->result_step = nums<int64_t>("a loop's result steps");
        l->staged_at = nums<int64_t>("a loop's staged offsets");
        const int32_t r = num<int32_t>("a loop's Revolve step");
        if (r < -1 || r >= static_cast<int32_t>(revolves.size())) bad(fmt::format("a loop's Revolve step is {}", r));
        if (r >= 0) l->revolve = revolves[static_cast<size_t>(r)].step;
        st.loop = std::move(l);
        break;
      }
    }
    st.reads = nums<int32_t>("a step's reads");
    st.writes = nums<int32_t>("a step's writes");
  }
  for (const Pending& p : revolves) {
    if (p.forward < 0 || static_cast<size_t>(p.forward) >= s.steps.size() ||
        s.steps[static_cast<size_t>(p.forward)].kind != Step::Kind::Loop)
      bad(fmt::format("a Revolve step's forward loop is step {}", p.forward));
    p.step->forward = s.steps[static_cast<size_t>(p.forward)].loop.get();
  }
  s.buffers.resize(count("the buffers", 16));
  for (ArenaBuffer& b : s.buffers) {
    b.bytes = num<int64_t>("a buffer's size");
    b.offset = num<int64_t>("a buffer's offset");
  }
  s.literals.resize(count("the literals", 9));
  for (Tensor& t : s.literals) t = tensor();
  s.outputs.resize(count("the outputs", 17));
  for (Spec& o : s.outputs) o = spec();
  s.inputs.resize(count("the inputs", 17));
  for (Spec& i : s.inputs) i = spec();
  s.arena_bytes = num<int64_t>("the arena's size");
  return s;
}

}  // namespace

std::string serialize(const Schedule& s) {
  Writer w;
  for (char c : kMagic) w.put(c);
  w.put(kVersion);
  w.put(s);
  return w.take();
}

Schedule deserialize(std::string_view bytes) {
  Reader r(bytes);
  for (char c : kMagic)
    if (r.num<char>("the magic number") != c) r.bad("not an rnnc program (no magic number)");
  if (const uint32_t v = r.num<uint32_t>("the version"); v != kVersion)
    throw Error(fmt::format("rnnc: program: format version {}, this rnnc reads version {}", v, kVersion));
  Schedule s = r.schedule(0);
  if (!r.done()) r.bad("bytes after the program");
  return s;
}

}  // namespace rnnc::exec

namespace rnnc::exec {

namespace {

// An int8 GEMM (quantize.h): 2-D, its weights and scales literals of the sizes the kernel reads.
void check_int8(const GemmStep& g, const Schedule& s) {
  auto literal = [&](const Access& a) -> const Tensor* {
    if (a.buf.space != Space::Literal || a.buf.index < 0 || static_cast<size_t>(a.buf.index) >= s.literals.size())
      return nullptr;
    return &s.literals[static_cast<size_t>(a.buf.index)];
  };
  const Tensor* q = literal(g.b);
  const Tensor* sc = literal(g.scale);
  const bool ok = g.b.shape.size() == 2 && g.a.shape.size() == 2 && g.c.shape.size() == 2 && g.b.strides.size() == 2 &&
                  q && sc && q->dtype() == DType::i8 && sc->dtype() == DType::f32 && g.b.offset == 0 &&
                  g.scale.offset == 0 && g.b.strides[1] > 0 && g.b.strides[1] % 64 == 0 &&
                  g.b.strides[1] >= g.b.shape[0] && g.b.shape[1] >= 0 &&
                  g.b.shape[1] <= q->numel() / g.b.strides[1] &&  // no overflow
                  g.b.shape[1] <= sc->numel() / 2 && g.a.dtype == DType::f32 && g.c.dtype == DType::f32;
  if (!ok) throw Error("rnnc: program: an int8 GEMM whose weights or scales are not what it reads");
}

void check_schedule(const Schedule& s, size_t kernels, int depth) {
  auto ref = [&](const BufferRef& b, const char* what) {
    const size_t n = b.space == Space::Arena    ? s.buffers.size()
                     : b.space == Space::Input  ? s.inputs.size()
                     : b.space == Space::Output ? s.outputs.size()
                                                : s.literals.size();
    // An unused loop result or history is index -1 by design.
    if (b.index < -1 || (b.index >= 0 && static_cast<size_t>(b.index) >= n))
      throw Error(fmt::format("rnnc: program: {} refers to {} of {}, at loop depth {}", what, str(b), n, depth));
  };
  auto refs = [&](const std::vector<Access>& v, const char* what) {
    for (const Access& a : v) ref(a.buf, what);
  };
  for (const Step& st : s.steps) {
    for (int b : st.reads) ref({Space::Arena, b}, "a step's read");
    for (int b : st.writes) ref({Space::Arena, b}, "a step's write");
    switch (st.kind) {
      case Step::Kind::Kernel:
        if (st.kernel.kernel < 0 || static_cast<size_t>(st.kernel.kernel) >= kernels)
          throw Error(fmt::format("rnnc: program: a step calls kernel {} of {}", st.kernel.kernel, kernels));
        refs(st.kernel.args, "a kernel's argument");
        for (const Partial& q : st.kernel.partials) {
          ref(q.copies.buf, "a partial sum's copies");
          const Fill& f = st.kernel.fills.at(static_cast<size_t>(q.fill));
          const int64_t need = (st.kernel.chunks - 1) * f.count * static_cast<int64_t>(size_of(q.copies.dtype));
          if (q.copies.buf.space != Space::Arena || q.copies.buf.index < 0 ||
              s.buffers[static_cast<size_t>(q.copies.buf.index)].bytes <
                  need + q.copies.offset * static_cast<int64_t>(size_of(q.copies.dtype)))
            throw Error(fmt::format("rnnc: program: a partial sum's copies ({}) hold less than {} bytes",
                                    str(q.copies.buf), need));
        }
        break;
      case Step::Kind::Gemm:
        refs({st.gemm.a, st.gemm.b, st.gemm.c}, "a GEMM's operand");
        if (st.gemm.b.dtype == DType::i8) check_int8(st.gemm, s);
        break;
      case Step::Kind::Library:
        refs(st.library.inputs, "a library step's input");
        ref(st.library.out.buf, "a library step's output");
        break;
      case Step::Kind::Loop: {
        const LoopStep& l = *st.loop;
        refs(l.bindings, "a loop's binding");
        refs(l.results, "a loop's result");
        refs(l.history, "a loop's history");
        ref(l.scratch.buf, "a loop's scratch");
        if (l.revolve) {
          refs(l.revolve->slots, "a Revolve slot");
          ref(l.revolve->work.buf, "a Revolve work buffer");
        }
        check_schedule(*l.body, kernels, depth + 1);
        break;
      }
    }
  }
}

}  // namespace

void check_references(const Schedule& s, size_t kernels) { check_schedule(s, kernels, 0); }

}  // namespace rnnc::exec
