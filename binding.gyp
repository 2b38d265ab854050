{
  "variables": {
    "libtorch%": "<!(node -p \"process.env.LIBTORCH || ''\")",
    "cxx11_abi%": "<!(node -p \"process.env.SAURON_CXX11_ABI || '1'\")",
    "blis%": "<!(node -p \"process.env.SAURON_BLIS_DIR || ''\")",
    "dnnl%": "<!(node -p \"process.env.SAURON_DNNL || '0'\")",
    "with_cuda%": "<!(node -p \"require('fs').existsSync((process.env.LIBTORCH || '/nonexistent') + '/lib/libtorch_cuda.so') ? 1 : 0\")"
  },
  "targets": [
    {
      "target_name": "sauron_native",
      "sources": [
        "native/addon.cc",
        "native/tensor.cc",
        "native/op.cc",
        "native/optimizer.cc",
        "native/script.cc",
        "native/device.cc",
        "native/distributed.cc",
        "native/pool.cc",
        "native/poolKernel.cc",
        "native/window.cc",
        "native/conv.cc",
        "native/fabProjection.cc",
        "native/fabProjectionKernel.cc",
        "native/convStack.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_CPP_EXCEPTIONS",
        "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS",
        "_GLIBCXX_USE_CXX11_ABI=<(cxx11_abi)"
      ],
      "cflags!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-std=gnu++20"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-frtti", "-O2", "-fopenmp", "-Wno-unused-parameter", "-Wno-deprecated-declarations"],
      "conditions": [
        ["with_cuda==1", {
          "defines": ["SAURON_WITH_CUDA"],
          "libraries": ["-Wl,--no-as-needed", "-ltorch_cuda", "-lc10_cuda", "-Wl,--as-needed"]
        }],
        ["dnnl==1", {
          "defines": ["SAURON_DNNL"],
          "libraries": ["-ldnnl"]
        }],
        ["libtorch=='' and blis!=''", {
          "libraries": ["-L<(blis)", "-Wl,-rpath,<(blis)", "-Wl,--no-as-needed", "-lblas", "-Wl,--as-needed"]
        }],
        ["libtorch==''", {
          "include_dirs": ["/usr/include", "/usr/include/torch/csrc/api/include"],
          "libraries": ["-ltorch", "-ltorch_cpu", "-lc10"]
        }, {
          "include_dirs": ["<(libtorch)/include", "<(libtorch)/include/torch/csrc/api/include"],
          "libraries": ["-L<(libtorch)/lib", "-Wl,-rpath,<(libtorch)/lib", "-ltorch", "-ltorch_cpu", "-lc10"]
        }]
      ]
    }
  ]
}
