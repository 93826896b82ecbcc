// The kernel cache's file format (object_cache.h).
#include "codegen/object_cache.h"

#include <llvm/Object/ELF.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/xxhash.h>
#include <llvm/TargetParser/Host.h>
#include <llvm/TargetParser/Triple.h>

#include <fmt/format.h>

#include <cstdint>
#include <cstring>

namespace rnnc::codegen {

namespace {

constexpr char kTrailerMagic[8] = {'r', 'n', 'n', 'c', 'o', 'b', 'j', '1'};
constexpr size_t kTrailer = 16;

template <class T> bool failed(llvm::Expected<T>& v, std::string& why, const char* what) {
  if (v) return false;
  why = std::string(what) + ": " + llvm::toString(v.takeError());
  return true;
}

// Why `object` is not a relocatable ELF object of this machine that LLVM's linker can read, or "".
// It goes through llvm::object::ELFFile, whose every access is checked (the lazy ObjectFile API
// divides by a section's entry size unchecked: a damaged object would crash it), over all the
// linker reads: the headers, every section's name and contents, the symbol tables and their
// names, and every relocation's symbol.
std::string object_problem(std::string_view object) {
  using ELFT = llvm::object::ELF64LE;
  std::string why;
  if (object.substr(0, 4) !=
      "\x7f"
      "ELF")
    return "not an object file: no ELF magic";
  auto file = llvm::object::ELFFile<ELFT>::create(llvm::StringRef(object.data(), object.size()));
  if (failed(file, why, "not an object file")) return why;
  const auto& header = file->getHeader();
  if (header.e_ident[llvm::ELF::EI_CLASS] != llvm::ELF::ELFCLASS64 ||
      header.e_ident[llvm::ELF::EI_DATA] != llvm::ELF::ELFDATA2LSB || header.e_type != llvm::ELF::ET_REL)
    return "not an object file: not a 64-bit little-endian relocatable ELF object";
  const llvm::Triple::ArchType host = llvm::Triple(llvm::sys::getProcessTriple()).getArch();
  if (host != llvm::Triple::x86_64 || header.e_machine != llvm::ELF::EM_X86_64)
    return "an object for another architecture";
  auto sections = file->sections();
  if (failed(sections, why, "not an object file: its section headers")) return why;
  for (const auto& sec : *sections) {
    auto name = file->getSectionName(sec);
    if (failed(name, why, "not an object file: a section's name")) return why;
    if (sec.sh_type != llvm::ELF::SHT_NOBITS) {
      auto contents = file->getSectionContents(sec);
      if (failed(contents, why, "not an object file: a section's contents")) return why;
    }
    if (sec.sh_type == llvm::ELF::SHT_SYMTAB) {
      auto symbols = file->symbols(&sec);
      if (failed(symbols, why, "not an object file: a symbol table")) return why;
      auto strings = file->getStringTableForSymtab(sec);
      if (failed(strings, why, "not an object file: a symbol table's names")) return why;
      for (const auto& sym : *symbols) {
        auto sym_name = sym.getName(*strings);
        if (failed(sym_name, why, "not an object file: a symbol's name")) return why;
        // Defined in a section that exists (or absolute, common or undefined).
        if (sym.st_shndx != llvm::ELF::SHN_UNDEF && sym.st_shndx < llvm::ELF::SHN_LORESERVE &&
            sym.st_shndx >= sections->size())
          return "not an object file: a symbol in no section";
      }
    }
    if (sec.sh_type == llvm::ELF::SHT_RELA) {
      auto symtab = file->getSection(sec.sh_link);
      if (failed(symtab, why, "not an object file: a relocation section's symbols")) return why;
      auto relas = file->relas(sec);
      if (failed(relas, why, "not an object file: relocations")) return why;
      auto target = file->getSection(sec.sh_info);
      if (failed(target, why, "not an object file: a relocation section's target")) return why;
      for (const auto& r : *relas) {
        auto sym = file->getRelocationSymbol(r, *symtab);
        if (failed(sym, why, "not an object file: a relocation's symbol")) return why;
        // The bytes it patches lie inside the section it patches (8 for the 64-bit kinds).
        const uint32_t type = r.getType(false);
        const uint64_t width = type == llvm::ELF::R_X86_64_64 || type == llvm::ELF::R_X86_64_PC64 ? 8 : 4;
        if ((*target)->sh_size < width || r.r_offset > (*target)->sh_size - width)
          return "not an object file: a relocation outside its section";
      }
    } else if (sec.sh_type == llvm::ELF::SHT_REL) {
      return "not an object file: SHT_REL relocations (x86-64 uses SHT_RELA)";
    }
  }
  return "";
}

}  // namespace

CachedObject read_cached_object(std::string_view bytes) {
  if (bytes.size() <= kTrailer || bytes.size() > kMaxCachedObject) return {{}, fmt::format("{} bytes", bytes.size())};
  const std::string_view object = bytes.substr(0, bytes.size() - kTrailer), trailer = bytes.substr(object.size());
  uint64_t want = 0;
  std::memcpy(&want, trailer.data() + 8, 8);
  if (std::memcmp(trailer.data(), kTrailerMagic, 8) != 0 ||
      llvm::xxh3_64bits(llvm::StringRef(object.data(), object.size())) != want)
    return {{}, "its checksum does not match"};
  if (std::string why = object_problem(object); !why.empty()) return {{}, why};
  return {object, ""};
}

std::string cached_object_file(std::string_view object) {
  const uint64_t hash = llvm::xxh3_64bits(llvm::StringRef(object.data(), object.size()));
  std::string out(object);
  out.append(kTrailerMagic, 8);
  out.append(reinterpret_cast<const char*>(&hash), 8);
  return out;
}

}  // namespace rnnc::codegen
