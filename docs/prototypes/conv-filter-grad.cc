// Prototype, not shipped and not built by anything: the filter gradient of a stride-1 "same"
// K×K NHWC convolution written by hand, timed against TensorFlow's Conv2DBackpropFilter (oneDNN)
// on an AMD EPYC with AVX2 (see docs/native-backend.md, "On an AMD EPYC with AVX2 only").
// Build and run: g++ -O3 -march=native -o fg conv-filter-grad.cc -lpthread && ./fg 4 56
//
// dW[kh][kw][ci][co] = Σ over n, h, w of x[n, h+kh−p, w+kw−p, ci] · dy[n, h, w, co]. The image
// rows (n, h) are split between the threads, each with a private dW, added at the end; for each
// row, kh, kw and pair of input channels, 2 × 32 accumulators stay in registers over the row's
// positions. Assumes C even and O = 32 (DenseNet's growth rate).
#include <immintrin.h>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>
#include <cmath>
static void Part(const float* x, const float* dy, float* dw, int N, int H, int W, int C, int O, int K, int64_t rbegin, int64_t rend) {
  const int p = K / 2;
  memset(dw, 0, sizeof(float) * K * K * C * O);
  for (int64_t row = rbegin; row < rend; ++row) {  // row = n*H + h
    const int64_t n = row / H; const int h = row % H;
    const float* drow = dy + row * W * O;
    for (int kh = 0; kh < K; ++kh) {
      const int hh = h + kh - p; if (hh < 0 || hh >= H) continue;
      const float* xrow = x + (n * H + hh) * W * C;
      for (int kw = 0; kw < K; ++kw) {
        const int w0 = std::max(0, p - kw), w1 = std::min(W, W + p - kw);
        float* dwk = dw + (int64_t)(kh * K + kw) * C * O;
        for (int ci = 0; ci < C; ci += 2) {
          __m256 a00 = _mm256_loadu_ps(dwk + ci * O), a01 = _mm256_loadu_ps(dwk + ci * O + 8), a02 = _mm256_loadu_ps(dwk + ci * O + 16), a03 = _mm256_loadu_ps(dwk + ci * O + 24);
          __m256 a10 = _mm256_loadu_ps(dwk + ci * O + O), a11 = _mm256_loadu_ps(dwk + ci * O + O + 8), a12 = _mm256_loadu_ps(dwk + ci * O + O + 16), a13 = _mm256_loadu_ps(dwk + ci * O + O + 24);
          const float* xr = xrow + (int64_t)(w0 + kw - p) * C + ci;
          const float* d = drow + (int64_t)w0 * O;
          for (int w = w0; w < w1; ++w, xr += C, d += O) {
            const __m256 d0 = _mm256_loadu_ps(d), d1 = _mm256_loadu_ps(d + 8), d2 = _mm256_loadu_ps(d + 16), d3 = _mm256_loadu_ps(d + 24);
            const __m256 x0 = _mm256_broadcast_ss(xr), x1 = _mm256_broadcast_ss(xr + 1);
            a00 = _mm256_fmadd_ps(x0, d0, a00); a01 = _mm256_fmadd_ps(x0, d1, a01); a02 = _mm256_fmadd_ps(x0, d2, a02); a03 = _mm256_fmadd_ps(x0, d3, a03);
            a10 = _mm256_fmadd_ps(x1, d0, a10); a11 = _mm256_fmadd_ps(x1, d1, a11); a12 = _mm256_fmadd_ps(x1, d2, a12); a13 = _mm256_fmadd_ps(x1, d3, a13);
          }
          _mm256_storeu_ps(dwk + ci * O, a00); _mm256_storeu_ps(dwk + ci * O + 8, a01); _mm256_storeu_ps(dwk + ci * O + 16, a02); _mm256_storeu_ps(dwk + ci * O + 24, a03);
          _mm256_storeu_ps(dwk + ci * O + O, a10); _mm256_storeu_ps(dwk + ci * O + O + 8, a11); _mm256_storeu_ps(dwk + ci * O + O + 16, a12); _mm256_storeu_ps(dwk + ci * O + O + 24, a13);
        }
      }
    }
  }
}
int main(int argc, char** argv) {
  int N = atoi(argv[1]), H = atoi(argv[2]), W = H, C = 128, O = 32, K = 3; int T = 2;
  std::vector<float> x((size_t)N * H * W * C), dy((size_t)N * H * W * O);
  for (auto& v : x) v = rand() / (float)RAND_MAX - 0.5f; for (auto& v : dy) v = rand() / (float)RAND_MAX - 0.5f;
  const int64_t P = (int64_t)N * H * W; const size_t F = (size_t)K * K * C * O;
  std::vector<float> parts(F * T), dw(F);
  double best = 1e9;
  for (int r = 0; r < 10; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> th;
    for (int t = 0; t < T; ++t) th.emplace_back(Part, x.data(), dy.data(), parts.data() + F * t, N, H, W, C, O, K, (int64_t)N * H * t / T, (int64_t)N * H * (t + 1) / T);
    for (auto& t : th) t.join();
    for (size_t i = 0; i < F; ++i) { float s = 0; for (int t = 0; t < T; ++t) s += parts[F * t + i]; dw[i] = s; }
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  // check one entry in double
  int kh = 0, kw = 2, ci = 5, co = 7; double ref = 0;
  for (int64_t pos = 0; pos < P; ++pos) { int w = pos % W, h = (pos / W) % H; int64_t n = pos / (W * H); int hh = h + kh - 1, ww = w + kw - 1; if (hh < 0 || hh >= H || ww < 0 || ww >= W) continue; ref += (double)x[((n * H + hh) * W + ww) * C + ci] * dy[pos * O + co]; }
  printf("N=%d H=%d: %.2f ms, %.1f GFLOP/s, check %.3g vs %.3g\n", N, H, best * 1e3, 2.0 * P * 9 * C * O / best / 1e9, dw[((kh * K + kw) * C + ci) * O + co], ref);
}
