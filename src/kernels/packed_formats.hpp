// The K-quant packed layouts, one file each (packed_q4_k.cpp, packed_q6_k.cpp), for
// `packed_format` (packed_weights.cpp) to list. Internal to the kernel layer.
#pragma once

#include "kernels/packed_weights.hpp"

namespace capibara::kernels {

const PackedFormat& packed_format_q4_k();
const PackedFormat& packed_format_q6_k();

}  // namespace capibara::kernels
