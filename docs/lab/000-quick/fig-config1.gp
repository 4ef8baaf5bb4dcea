set terminal pngcairo size 800,480 font 'sans,10'
set output "fig-config1.png"
set title "CPU use, one guest (config 1)"
set grid
set style fill solid 0.6 border -1
set key outside right
set xlabel "seconds since the guests started"
set ylabel "host CPU (% of one core)"
set yrange [0:*]
plot "fig-config1.dat" using 1:(0):2 with filledcurves title "g1"
