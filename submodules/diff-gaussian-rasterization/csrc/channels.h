// The number of blended channels as a compile-time constant for the common identity
// dimensions (D = 0, 8, 16, 32: the per-channel loops unroll and, on CUDA, the sums live in
// registers) or a run-time value for any other D.
#pragma once

#include "rasterizer_types.h"

namespace gs {

template <int kFixed>
struct ChannelCount {
  static constexpr int kCompileTime = kFixed;   // 0: only known at run time
  int runtime;
  GS_HD int operator()() const { return kFixed > 0 ? kFixed : runtime; }
};

// Calls f(ChannelCount<...>{channels}) with the compile-time count when there is one.
template <class F>
void with_channel_count(int channels, F&& f) {
  switch (channels) {
    case blend_channels(0): return f(ChannelCount<blend_channels(0)>{channels});
    case blend_channels(8): return f(ChannelCount<blend_channels(8)>{channels});
    case blend_channels(16): return f(ChannelCount<blend_channels(16)>{channels});
    case blend_channels(32): return f(ChannelCount<blend_channels(32)>{channels});
    default: return f(ChannelCount<0>{channels});
  }
}

}  // namespace gs
