// Turns the C++ blocks of markdown pages into one translation unit, so that the build compiles
// every block a reader copies (the target docs_code). Usage:
//   docs_blocks SOURCE_DIR OUT.cpp PAGE.md...
// Each page's blocks go into a namespace of their own.
// In document order: a block's declarations (a line at column 0 starting with struct, class,
// template, namespace, using, enum; up to its closing brace and semicolon) stay at namespace scope;
// its other lines become the body of a function of their own; #include lines go to the top. A
// comment `<!-- setup: ... -->` just before a block holds what the text around it assumes (a
// model, a batch), hidden when the page is read: at namespace scope after the block's own
// declarations, and what follows a line `---` at the start of the block's function (locals).
// A block after `<!-- excerpt: PATH -->` is a piece of that file instead: its lines must appear
// there in order, comments and spacing aside. Errors name the page and line; the exit status is 1.
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

namespace {

std::string read(const std::filesystem::path& p) {
  std::ifstream in(p);
  if (!in) throw std::runtime_error("cannot read " + p.string());
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Code without its // comments and with every run of spaces as one space: what an excerpt and its
// source must share.
std::string normalised(const std::string& code) {
  std::string out;
  std::istringstream in(code);
  for (std::string line; std::getline(in, line);) {
    if (const auto c = line.find("//"); c != std::string::npos) line.erase(c);
    for (char ch : line) {
      const bool space = std::isspace(static_cast<unsigned char>(ch)) != 0;
      if (space && (out.empty() || out.back() == ' ')) continue;
      out += space ? ' ' : ch;
    }
    if (!out.empty() && out.back() != ' ') out += ' ';
  }
  return out;
}

bool starts_declaration(const std::string& line) {
  for (const char* k : {"struct ", "class ", "template ", "template<", "namespace ", "using ", "enum ", "#include"})
    if (line.rfind(k, 0) == 0) return true;
  return false;
}

int braces(const std::string& line) {
  int d = 0;
  for (char c : line) d += c == '{' ? 1 : c == '}' ? -1 : 0;
  return d;
}

struct Block {
  int line = 0;  // of its first code line in the document
  std::vector<std::string> code;
  std::string setup, excerpt;
  int setup_line = 0;
};

std::vector<Block> blocks_of(const std::string& doc) {
  std::vector<Block> out;
  std::istringstream in(doc);
  std::string line, pending_setup, pending_excerpt;
  bool in_setup = false;
  int n = 0, setup_line = 0;
  while (std::getline(in, line)) {
    ++n;
    if (in_setup) {
      if (line.find("-->") != std::string::npos)
        in_setup = false;
      else
        pending_setup += line + "\n";
      continue;
    }
    if (line.rfind("<!-- setup:", 0) == 0) {
      setup_line = n;
      pending_setup = line.substr(11);
      if (const auto e = pending_setup.find("-->"); e != std::string::npos)
        pending_setup.erase(e);
      else
        in_setup = true;
      pending_setup += "\n";
      continue;
    }
    if (line.rfind("<!-- excerpt:", 0) == 0) {
      pending_excerpt = line.substr(13, line.find("-->") - 13);
      while (!pending_excerpt.empty() && pending_excerpt.back() == ' ') pending_excerpt.pop_back();
      while (!pending_excerpt.empty() && pending_excerpt.front() == ' ') pending_excerpt.erase(0, 1);
      continue;
    }
    if (line == "```cpp") {
      Block b{n + 1, {}, pending_setup, pending_excerpt, setup_line};
      while (std::getline(in, line) && ++n && line != "```") b.code.push_back(line);
      out.push_back(std::move(b));
    }
    if (!line.empty()) pending_setup.clear(), pending_excerpt.clear();
  }
  return out;
}

// The page's blocks as code in namespace `ns` (its #include lines added to `includes`); false when
// an excerpt is not a piece of its file (said on stderr).
bool page_code(const std::filesystem::path& root, const std::filesystem::path& doc, const std::string& ns,
               std::string& includes, std::string& code) {
  const std::string name = std::filesystem::relative(doc, root).string();
  std::string body;
  bool ok = true;
  for (const Block& b : blocks_of(read(doc))) {
    if (!b.excerpt.empty()) {
      // Each line of the block, in order, in the file.
      const std::string source = normalised(read(root / b.excerpt));
      std::size_t at = 0;
      for (const std::string& l : b.code) {
        const std::string n = normalised(l);
        if (n.empty() || at == std::string::npos) continue;
        at = source.find(n, at);
      }
      if (at == std::string::npos) {
        std::cerr << name << ":" << b.line << ": this block is not a piece of " << b.excerpt
                  << " (comments and spacing aside): bring the two together\n";
        ok = false;
      }
      continue;
    }
    std::string setup = b.setup, locals;
    if (const auto cut = setup.find("\n---\n"); cut != std::string::npos) {
      locals = setup.substr(cut + 5);
      setup.erase(cut + 1);
    }
    const auto at_line = [&](int l) { return "#line " + std::to_string(l) + " \"" + name + "\"\n"; };
    const int setup_lines = static_cast<int>(std::count(setup.begin(), setup.end(), '\n'));
    std::string statements = locals.empty() ? "" : at_line(b.setup_line + setup_lines + 1) + locals;
    int depth = 0;
    bool declaring = false;
    for (std::size_t i = 0; i < b.code.size(); ++i) {
      const std::string& l = b.code[i];
      const std::string at = at_line(b.line + static_cast<int>(i));
      if (!declaring && l.rfind("#include", 0) == 0) {
        includes += l + "\n";
        continue;
      }
      if (!declaring && starts_declaration(l)) declaring = true, depth = 0;
      if (declaring) {
        body += at + l + "\n";
        depth += braces(l);
        if (depth <= 0 && !l.empty() && (l.back() == ';' || l.back() == '}')) declaring = false;
      } else {
        statements += at + l + "\n";
      }
    }
    if (!setup.empty()) body += at_line(b.setup_line) + setup;
    if (!statements.empty())
      body += "[[maybe_unused]] static void block_at_line_" + std::to_string(b.line) + "() {\n" + statements + "}\n";
  }
  code += "namespace " + ns + " {\nusing namespace rnnc;\n" + body + "}  // namespace " + ns + "\n";
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::cerr << "usage: docs_blocks SOURCE_DIR OUT.cpp PAGE.md...\n";
    return 2;
  }
  const std::filesystem::path root = argv[1], out_path = argv[2];
  try {
    std::string includes =
        "#include <rnnc/rnnc.h>\n#include <rnnc/export.h>\n#include <rnnc/program.h>\n#include <iostream>\n";
    std::string code;
    bool ok = true;
    for (int i = 3; i < argc; ++i) {
      std::string ns = "page_" + std::filesystem::path(argv[i]).stem().string();
      for (char& c : ns) c = std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
      ok &= page_code(root, argv[i], ns, includes, code);
    }
    if (!ok) return 1;
    std::ofstream out(out_path);
    out << "// Generated by tests/docs_blocks.cpp from the C++ blocks of README.md and docs/; not edited.\n"
        << includes << code;
    return out ? 0 : 1;
  } catch (const std::exception& e) {
    std::cerr << "docs_blocks: " << e.what() << "\n";
    return 1;
  }
}
