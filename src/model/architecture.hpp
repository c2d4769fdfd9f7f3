// The architectures capibara can run, by their GGUF `general.architecture` name.
// Thread safety: immutable data.
#pragma once

#include <string_view>
#include <vector>

namespace capibara {

namespace gguf {
class GgufFile;
}

std::vector<std::string_view> supported_architectures();
bool is_supported_architecture(std::string_view name);
// UnsupportedError that lists the supported architectures when `file`'s is not one of them.
void require_supported_architecture(const gguf::GgufFile& file);

}  // namespace capibara
