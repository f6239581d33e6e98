"""The ``array`` template: one shared XNOR-popcount array executing layers
one after another. ``spec`` (the design model), ``timing`` (closed-form
compute cycles), ``engine`` (SimPy tile engine and its recurrence),
``candidates``/``mapper`` (exact tiling search), ``energy``/``area`` (the cost
ledger), ``residency`` (feature maps held on chip), ``reuse`` (computation
reuse plug-ins), ``simulate`` (the whole network), ``template`` (the plug-in
bnnarch.template registers)."""
